package actors

import (
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/labelgate/labelgate/messages"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/labelgate/labelgate/bridge"
)

// AgentListenerConfig configures main's listener for agents that dial in
// (outbound mode).
type AgentListenerConfig struct {
	Addr string
	// Keys are the configured agents' tokens; the one that matches names
	// the agent.
	Keys bridge.Keyring
	// TLS is the server's TLS configuration; RequireTLS refuses plaintext
	// (a certificate was configured, or agent.require_tls), else both ws://
	// and wss:// dialers are served on the one port.
	TLS        *tls.Config
	RequireTLS bool
	// TLSRequiredFor names the agents that must connect over TLS
	// (agent.agents.<name>.require_tls): a plaintext connection of theirs
	// is refused after its handshake.
	TLSRequiredFor map[string]bool
	// MaxPending and MaxPendingPerAddress cap connections still in their
	// handshake (bridge.ListenConfig).
	MaxPending, MaxPendingPerAddress int
	Options                          bridge.Options
	Registry                         *actor.PID
	Agents                           *actor.PID
	Logger                           *slog.Logger
}

type acceptedConn struct{ conn *bridge.Conn }
type listenerStopped struct{ err error }

// agentListenerActor serves the bridge on the agent port and runs one
// agentsession child per authenticated connection. A failing session is
// stopped (the agent reconnects) and touches no other. The bridge port
// keeps accepting through temporary accept errors; its health is what
// messages.QueryListenerHealth reports.
type agentListenerActor struct {
	cfg  AgentListenerConfig
	port *bridge.Port
}

// NewAgentListenerProps builds main's agent listener.
func NewAgentListenerProps(cfg AgentListenerConfig) *actor.Props {
	return sessionParentProps(cfg.Logger, func() actor.Actor { return &agentListenerActor{cfg: cfg} })
}

func (a *agentListenerActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		self, root := ctx.Self(), ctx.ActorSystem().Root
		port, err := bridge.ServePort(a.cfg.Addr, bridge.ListenConfig{
			Role: bridge.RoleMain, Keys: a.cfg.Keys, Options: a.cfg.Options,
			TLS: a.cfg.TLS, RequireTLS: a.cfg.RequireTLS,
			MaxPending: a.cfg.MaxPending, MaxPendingPerAddress: a.cfg.MaxPendingPerAddress,
			Accept: func(c *bridge.Conn) error {
				// Runs on the connection's HTTP goroutine and reads only
				// the immutable configuration.
				if p := c.Peer(); a.cfg.TLSRequiredFor[p.Name] && p.Mode == bridge.ModePlaintext {
					return &bridge.CloseError{Code: bridge.CodeRefused,
						Reason: "this agent must connect with wss:// (require_tls is set for it on main)"}
				}
				root.Send(self, acceptedConn{c})
				return nil
			},
		}, func(err error) { root.Send(self, listenerStopped{err}) })
		if err != nil {
			panic(fmt.Errorf("listening for agents: %w", err))
		}
		a.port = port
		a.cfg.Logger.Info("listening for agents", "addr", port.Addr().String(), "tls_required", a.cfg.RequireTLS)
	case acceptedConn:
		props := NewAgentSessionProps(AgentSessionConfig{Conn: m.conn, Registry: a.cfg.Registry, Agents: a.cfg.Agents, Logger: a.cfg.Logger})
		ctx.Spawn(props)
	case messages.ResendSets:
		// The registry restarted: every session asks its agent to resend.
		for _, c := range ctx.Children() {
			ctx.Send(c, m)
		}
	case messages.QueryListenerHealth:
		err := errors.New("the agent listener is starting")
		if a.port != nil {
			err = a.port.Health()
		}
		ctx.Respond(messages.ListenerHealth{Err: err})
	case listenerStopped:
		panic(fmt.Errorf("the agent listener stopped: %w", m.err))
	case *actor.Stopping, *actor.Restarting:
		if a.port != nil {
			a.port.Stop()
		}
	}
}
