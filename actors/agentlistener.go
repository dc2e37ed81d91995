package actors

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

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
	// (a certificate was configured), else both ws:// and wss:// dialers
	// are served on the one port.
	TLS        *tls.Config
	RequireTLS bool
	Options    bridge.Options
	Registry   *actor.PID
	Agents     *actor.PID
	Logger     *slog.Logger
}

type acceptedConn struct{ conn *bridge.Conn }
type listenerStopped struct{ err error }

// agentListenerActor serves the bridge on the agent port and runs one
// agentsession child per authenticated connection. A failing session is
// stopped (the agent reconnects) and touches no other.
type agentListenerActor struct {
	cfg    AgentListenerConfig
	cancel context.CancelFunc
	done   chan struct{}
}

// NewAgentListenerProps builds main's agent listener.
func NewAgentListenerProps(cfg AgentListenerConfig) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &agentListenerActor{cfg: cfg}
	}, actor.WithReceiverMiddleware(PanicLogger(cfg.Logger)),
		actor.WithSupervisor(actor.NewOneForOneStrategy(0, 0, func(any) actor.Directive { return actor.StopDirective })))
}

func (a *agentListenerActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		self, root := ctx.Self(), ctx.ActorSystem().Root
		l, err := bridge.NewListener(bridge.ListenConfig{
			Role: bridge.RoleMain, Keys: a.cfg.Keys, Options: a.cfg.Options,
			Accept: func(c *bridge.Conn) error {
				root.Send(self, acceptedConn{c})
				return nil
			},
		})
		if err != nil {
			panic(err)
		}
		ln, err := net.Listen("tcp", a.cfg.Addr)
		if err != nil {
			panic(fmt.Errorf("listening for agents on %s: %w", a.cfg.Addr, err))
		}
		c, cancel := context.WithCancel(context.Background())
		a.cancel, a.done = cancel, make(chan struct{})
		a.cfg.Logger.Info("listening for agents", "addr", ln.Addr().String(), "tls_required", a.cfg.RequireTLS)
		go func() {
			defer close(a.done)
			err := l.Serve(c, bridge.SniffTLS(ln, a.cfg.TLS, a.cfg.RequireTLS), nil)
			if c.Err() == nil && !errors.Is(err, http.ErrServerClosed) {
				root.Send(self, listenerStopped{err})
			}
		}()
	case acceptedConn:
		props := NewAgentSessionProps(AgentSessionConfig{Conn: m.conn, Registry: a.cfg.Registry, Agents: a.cfg.Agents, Logger: a.cfg.Logger})
		ctx.Spawn(props)
	case listenerStopped:
		panic(fmt.Errorf("the agent listener stopped: %w", m.err))
	case *actor.Stopping, *actor.Restarting:
		if a.cancel != nil {
			a.cancel()
			<-a.done
		}
	}
}
