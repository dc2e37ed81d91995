package actors

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/labelgate/labelgate/bridge"
	"github.com/labelgate/labelgate/messages"
)

// AgentSessionConfig configures one session with a connected agent.
type AgentSessionConfig struct {
	Conn     *bridge.Conn
	Registry *actor.PID
	Agents   *actor.PID
	Logger   *slog.Logger
}

type sessionFrame struct{ f bridge.Frame }
type sessionEnded struct{ err error }

// agentSessionActor is main's side of one authenticated agent connection,
// in either mode: it forwards the agent's snapshots to the registry as the
// agent's source (the bridge has already pinned Source to the agent whose
// token matched), acknowledges each version, and reports the agent's state
// to the directory. A goroutine reads the connection and hands frames over
// as messages; the bridge's own writer goroutine is the connection's only
// writer. The session ends with the connection; the agent (or main's
// dialer) reconnects.
type agentSessionActor struct {
	cfg  AgentSessionConfig
	name string
	log  *slog.Logger
}

// NewAgentSessionProps builds a session over an authenticated connection.
func NewAgentSessionProps(cfg AgentSessionConfig) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &agentSessionActor{cfg: cfg}
	}, actor.WithReceiverMiddleware(PanicLogger(cfg.Logger)))
}

func (a *agentSessionActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		peer := a.cfg.Conn.Peer()
		a.name = peer.Name
		a.log = a.cfg.Logger.With("actor", "agentsession", "agent", a.name)
		ctx.Send(a.cfg.Agents, AgentConnected{Name: a.name, Session: ctx.Self(), Remote: peer.RemoteAddr, TLSMode: string(peer.Mode)})
		if peer.Mode == bridge.ModePlaintext {
			a.log.Warn("the agent connection is not encrypted: container labels travel in clear (use wss://)", "remote", peer.RemoteAddr)
		}
		self, root, conn := ctx.Self(), ctx.ActorSystem().Root, a.cfg.Conn
		go func() {
			for f := range conn.Recv() {
				root.Send(self, sessionFrame{f})
			}
			<-conn.Done()
			root.Send(self, sessionEnded{conn.Err()})
		}()
	case sessionFrame:
		a.frame(ctx, m.f)
	case sessionEnded:
		reason := "closed"
		if m.err != nil {
			reason = m.err.Error()
		}
		ctx.Send(a.cfg.Agents, AgentDisconnected{Name: a.name, Session: ctx.Self(), Reason: reason})
		ctx.Stop(ctx.Self())
	case *actor.Stopping:
		a.cfg.Conn.Close(bridge.CodeGoingAway, "main ended the session")
	case *actor.Restarting:
		// A session does not survive its own failure: end the connection,
		// the agent reconnects and starts a fresh one.
		a.cfg.Conn.Close(bridge.CodeGoingAway, "main's session failed")
	}
}

func (a *agentSessionActor) frame(ctx actor.Context, f bridge.Frame) {
	switch b := f.Body.(type) {
	case bridge.Announce:
		a.log.Info("agent announced itself", "host", b.Hostname, "version", b.AgentVersion, "default_tunnel", b.DefaultTunnel, "docker", b.Docker.Connected)
		ctx.Send(a.cfg.Agents, AgentAnnounced{Name: a.name, Session: ctx.Self(), Hostname: b.Hostname, Version: b.AgentVersion,
			DefaultTunnel: b.DefaultTunnel, Docker: b.Docker.Connected, DockerError: b.Docker.LastError})
	case bridge.Snapshot:
		set := b.Set
		set.Source = messages.AgentSource(a.name) // belt and braces: the bridge pins it too
		ctx.Send(a.cfg.Registry, set)
		ctx.Send(a.cfg.Agents, AgentSnapshotSeen{Name: a.name, Session: ctx.Self(), Version: set.Version, Containers: len(set.Containers)})
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := a.cfg.Conn.Send(c, bridge.Ack{Version: set.Version}); err != nil && !errors.Is(err, bridge.ErrClosed) {
			a.log.Warn("acknowledging a snapshot failed", "version", set.Version, "err", err)
		}
	default:
		a.log.Warn("unexpected frame from an agent; closing", "type", f.Type())
		a.cfg.Conn.Close(bridge.CodeProtocol, "unexpected "+string(f.Type())+" frame from an agent")
	}
}
