package actors

import (
	"context"
	"errors"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/labelgate/labelgate/bridge"
)

// AgentDialerConfig configures main's dialer for one inbound-mode agent.
type AgentDialerConfig struct {
	Name     string
	Dial     bridge.DialConfig
	Backoff  bridge.BackoffConfig
	Registry *actor.PID
	Agents   *actor.PID
	Logger   *slog.Logger
}

type dialedConn struct{ conn *bridge.Conn }

// agentDialerActor owns the reconnect loop for one agent that main dials
// (inbound mode): a goroutine dials with capped, jittered backoff, hands
// each authenticated connection over as an agentsession child, waits for it
// to end, and dials again. Each agent has its own loop and its own backoff.
type agentDialerActor struct {
	cfg    AgentDialerConfig
	cancel context.CancelFunc
	done   chan struct{}
}

// NewAgentDialerProps builds the dialer of one inbound agent.
func NewAgentDialerProps(cfg AgentDialerConfig) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &agentDialerActor{cfg: cfg}
	}, actor.WithReceiverMiddleware(PanicLogger(cfg.Logger)),
		actor.WithSupervisor(actor.NewOneForOneStrategy(0, 0, func(any) actor.Directive { return actor.StopDirective })))
}

func (a *agentDialerActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c, cancel := context.WithCancel(context.Background())
		a.cancel, a.done = cancel, make(chan struct{})
		self, root := ctx.Self(), ctx.ActorSystem().Root
		log := a.cfg.Logger.With("actor", "agentdialer", "agent", a.cfg.Name, "url", a.cfg.Dial.URL)
		go func() {
			defer close(a.done)
			b := bridge.NewBackoff(a.cfg.Backoff)
			for c.Err() == nil {
				conn, err := bridge.Dial(c, a.cfg.Dial)
				if err != nil {
					if c.Err() != nil {
						return
					}
					wait := b.Next()
					log.Warn("dialing the agent failed; retrying", "err", err, "in", wait.Round(1e6))
					if sleepCtx(c, wait) != nil {
						return
					}
					continue
				}
				b.Connected()
				logTLSMode(log, conn.Peer())
				root.Send(self, dialedConn{conn})
				select {
				case <-conn.Done():
				case <-c.Done():
					conn.Close(bridge.CodeGoingAway, "main is stopping")
					<-conn.Done()
					return
				}
				if err := conn.Err(); err != nil && !errors.Is(err, context.Canceled) {
					log.Warn("the connection to the agent ended", "err", err)
				}
				if sleepCtx(c, b.Next()) != nil {
					return
				}
			}
		}()
	case ResendSets:
		// The registry restarted: the session asks its agent to resend.
		for _, c := range ctx.Children() {
			ctx.Send(c, m)
		}
	case dialedConn:
		ctx.Spawn(NewAgentSessionProps(AgentSessionConfig{Conn: m.conn, Registry: a.cfg.Registry, Agents: a.cfg.Agents, Logger: a.cfg.Logger}))
	case *actor.Stopping, *actor.Restarting:
		if a.cancel != nil {
			a.cancel()
			<-a.done
		}
	}
}

// logTLSMode says, at every connect, how the peer was authenticated.
func logTLSMode(log *slog.Logger, p bridge.Peer) {
	switch p.Mode {
	case bridge.ModeInsecure:
		log.Warn("connected with TLS verification switched off (insecure); only the token proof authenticates the peer", "remote", p.RemoteAddr, "channel_bound", p.ChannelBound)
	case bridge.ModePlaintext:
		log.Warn("connected without TLS: container labels travel in clear", "remote", p.RemoteAddr)
	case bridge.ModeTokenBound:
		log.Info("connected; the certificate is not from a trusted authority, so the peer is authenticated by the token proof bound to this TLS session", "remote", p.RemoteAddr)
	default:
		log.Info("connected; certificate verified", "remote", p.RemoteAddr, "mode", p.Mode)
	}
}
