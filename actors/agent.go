package actors

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/labelgate/labelgate/bridge"
	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/dockerwatch"
)

// AgentDeps are what the agent's actor tree needs besides its configuration.
type AgentDeps struct {
	Logger *slog.Logger
	// NewDocker builds the Docker client; dockerwatch.NewClient when nil.
	NewDocker func(dockerwatch.Config) (dockerwatch.Client, error)
	// Version is announced to main.
	Version string
}

// Agent child names.
const (
	ChildLink = "link"
)

// StartAgent builds and starts an agent's actor tree:
//
//	agent (supervisor, one for one, capped backoff)
//	├── link          the session with main (dials it, or accepts it)
//	└── dockerwatch   this host's labelled containers → link
//
// An agent holds no Cloudflare token and parses no labels: it only sends
// its full container set to main on connect and after every change.
func StartAgent(cfg config.Config, deps AgentDeps) (*Main, error) {
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	newDocker := deps.NewDocker
	if newDocker == nil {
		newDocker = dockerwatch.NewClient
	}
	host, _ := os.Hostname()
	cn := cfg.Connect
	opts := bridge.Options{Heartbeat: cn.HeartbeatInterval, Logger: log.With("lib", "bridge")}
	key := bridge.Key{Name: "main", Token: []byte(cn.Token.Reveal())}
	lc := AgentLinkConfig{Hostname: host, Version: deps.Version, DefaultTunnel: cfg.DefaultTunnel, Key: key, Options: opts, Logger: log}
	if cn.Mode == config.ConnectInbound {
		tlsCfg, selfSigned, err := bridge.ServerTLSConfig(bridge.ServerTLS{CertFile: cn.TLS.Cert, KeyFile: cn.TLS.Key, Hosts: selfSignedHosts()})
		if err != nil {
			return nil, fmt.Errorf("preparing the listener's TLS: %w", err)
		}
		if selfSigned {
			log.Info("serving a self-signed certificate to wss:// mains (no connect.tls.cert); main is authenticated by the token proof bound to the TLS session")
		}
		lc.Inbound, lc.Listen, lc.TLS, lc.RequireTLS = true, cn.Listen, tlsCfg, cn.TLS.Cert != "" || cn.RequireTLS
	} else {
		lc.Dial = bridge.DialConfig{URL: cn.Endpoint, Role: bridge.RoleAgent, Key: key, Options: opts,
			TLS: bridge.ClientTLS{CAFile: cn.TLS.CA, CertFile: cn.TLS.Cert, KeyFile: cn.TLS.Key, Insecure: cn.TLS.Insecure}}
	}
	specs := []ChildSpec{
		{Name: ChildLink, Props: func(map[string]*actor.PID) *actor.Props { return NewAgentLinkProps(lc) }},
		{Name: ChildDockerWatch, Props: func(pids map[string]*actor.PID) *actor.Props {
			return NewDockerWatchProps(DockerWatchConfig{
				Watch:     WatchConfig(cfg),
				NewClient: newDocker, Sink: pids[ChildLink], StatusSink: pids[ChildLink], Logger: log,
			})
		}},
	}
	return startTree("agent", specs, log)
}
