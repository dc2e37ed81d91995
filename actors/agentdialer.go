package actors

import (
	"context"
	"errors"
	"github.com/labelgate/labelgate/messages"
	"log/slog"
	"time"

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
// (inbound mode): a bridge redial loop dials with capped, jittered backoff,
// and the actor runs each authenticated connection as an agentsession
// child; the loop waits for it to end and dials again. Each agent has its
// own loop and its own backoff.
type agentDialerActor struct {
	cfg  AgentDialerConfig
	stop func()
}

// NewAgentDialerProps builds the dialer of one inbound agent.
func NewAgentDialerProps(cfg AgentDialerConfig) *actor.Props {
	return sessionParentProps(cfg.Logger, func() actor.Actor { return &agentDialerActor{cfg: cfg} })
}

func (a *agentDialerActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		self, root := ctx.Self(), ctx.ActorSystem().Root
		log := a.cfg.Logger.With("actor", "agentdialer", "agent", a.cfg.Name, "url", a.cfg.Dial.URL)
		a.stop = bridge.StartRedial(bridge.RedialConfig{
			Dial: a.cfg.Dial, Backoff: a.cfg.Backoff, StopReason: "main is stopping",
			OnConnected: func(conn *bridge.Conn) {
				logTLSMode(log, conn.Peer())
				root.Send(self, dialedConn{conn})
			},
			OnFailed: func(err error, wait time.Duration) {
				log.Warn("dialing the agent failed; retrying", "err", err, "in", wait.Round(time.Millisecond))
			},
			OnEnded: func(err error) {
				if err != nil && !errors.Is(err, context.Canceled) {
					log.Warn("the connection to the agent ended", "err", err)
				}
			},
		})
	case messages.ResendSets:
		// The registry restarted: the session asks its agent to resend.
		for _, c := range ctx.Children() {
			ctx.Send(c, m)
		}
	case dialedConn:
		ctx.Spawn(NewAgentSessionProps(AgentSessionConfig{Conn: m.conn, Registry: a.cfg.Registry, Agents: a.cfg.Agents, Logger: a.cfg.Logger}))
	case *actor.Stopping, *actor.Restarting:
		if a.stop != nil {
			a.stop()
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
