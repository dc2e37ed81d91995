package actors

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/time/rate"

	"github.com/labelgate/labelgate/bridge"
	"github.com/labelgate/labelgate/messages"
)

// AgentSessionConfig configures one session with a connected agent.
type AgentSessionConfig struct {
	Conn     *bridge.Conn
	Registry *actor.PID
	Agents   *actor.PID
	Logger   *slog.Logger
	// ApplyTimeout bounds the wait for the registry to take a snapshot
	// (defaultApplyTimeout when zero); after it the session goes on.
	ApplyTimeout time.Duration
}

// defaultApplyTimeout is how long a session waits for the registry to take a
// snapshot before it assumes the registry restarted and goes on. The registry
// asks every source to resend after a restart, so nothing is lost.
const defaultApplyTimeout = 30 * time.Second

// ackTimeout bounds the wait for room in the connection's send queue for an
// ack: an agent that does not read its acks gets none.
const ackTimeout = 100 * time.Millisecond

// Messages of a session.
type (
	// EndSession asks a session to close its connection with this code and
	// reason and stop.
	EndSession struct {
		Code   bridge.CloseCode
		Reason string
	}

	sessionSnapshot struct {
		set      messages.ContainerSet
		replaced int // older snapshots this one replaced unseen
	}
	sessionAnnounce struct{ a bridge.Announce }
	sessionEnded    struct{ err error }
	sessionNext     struct{}
	sessionApplyDue struct{ gen uint64 }
)

// agentSessionActor is main's side of one authenticated agent connection,
// in either mode. The bridge has already authenticated the agent (its name is
// the key whose token matched) and pinned every snapshot's Source to it.
//
// Budget: a pump goroutine reads the connection and keeps only the newest
// snapshot and the newest announce the session has not taken yet (an older
// one is replaced, never queued). The session takes one at a time: a
// snapshot goes to the registry with Request, and the next is taken only
// once the registry has answered (messages.SetApplied) — so an agent that floods
// snapshots holds at most one waiting, one in the registry and one being
// read, whatever its pace. The agent's ack follows the registry's answer.
//
// Admission: nothing the agent sends reaches the registry before the agents
// directory admits the session (a decommissioned agent is refused).
type agentSessionActor struct {
	timers
	cfg      AgentSessionConfig
	name     string
	log      *slog.Logger
	ready    chan struct{} // to the pump: the session takes the next item
	stop     chan struct{} // to the pump: the session is gone
	admitted bool
	// applying is the version sent to the registry and not answered yet;
	// gen numbers the waits, so a late timeout of an answered one is
	// ignored.
	applying     uint64
	gen          uint64
	lastAnnounce bridge.Announce
	announced    bool
	announces    *rate.Limiter // paces the announces the session takes
}

// An agent's announces are taken announceBurst at once, then one per
// announceEvery; the pump keeps only the newest meanwhile.
const (
	announceBurst = 5
	announceEvery = time.Second
)

// NewAgentSessionProps builds a session over an authenticated connection.
func NewAgentSessionProps(cfg AgentSessionConfig) *actor.Props {
	if cfg.ApplyTimeout <= 0 {
		cfg.ApplyTimeout = defaultApplyTimeout
	}
	return actor.PropsFromProducer(func() actor.Actor {
		return &agentSessionActor{cfg: cfg}
	}, withMiddleware(cfg.Logger))
}

// sessionParentProps builds an actor that runs agentsession children (main's
// agent listener, a dialer of an inbound agent): a failing session is
// stopped, its agent reconnects, and no other session is touched.
func sessionParentProps(log *slog.Logger, produce actor.Producer) *actor.Props {
	return actor.PropsFromProducer(produce, actor.WithReceiverMiddleware(PanicLogger(log)),
		actor.WithSupervisor(actor.NewOneForOneStrategy(0, 0, func(any) actor.Directive { return actor.StopDirective })))
}

func (a *agentSessionActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		peer := a.cfg.Conn.Peer()
		a.name = peer.Name
		a.log = a.cfg.Logger.With("actor", "agentsession", "agent", a.name)
		a.ready, a.stop = make(chan struct{}, 1), make(chan struct{})
		a.announces = rate.NewLimiter(rate.Every(announceEvery), announceBurst)
		ctx.Request(a.cfg.Agents, AgentConnected{Name: a.name, Session: ctx.Self(), Remote: peer.RemoteAddr, TLSMode: string(peer.Mode)})
		go pump(a.cfg.Conn, ctx.ActorSystem().Root, ctx.Self(), a.ready, a.stop)
	case messages.AgentAdmission:
		if m.Refused != "" {
			// The directory logs refusals, rate-limited.
			a.cfg.Conn.Close(bridge.CodeRefused, m.Refused)
			return // the connection ends; sessionEnded stops the session
		}
		if p := a.cfg.Conn.Peer(); p.Mode == bridge.ModePlaintext {
			a.log.Warn("the agent connection is not encrypted: container labels travel in clear (use wss://)", "remote", p.RemoteAddr)
		}
		a.admitted = true
		a.next()
	case sessionAnnounce:
		a.announce(ctx, m.a)
		// Announces are paced: a chatty agent's are coalesced by the pump
		// while the session waits.
		if d := a.announces.Reserve().Delay(); d > 0 {
			a.after(ctx, "announce", d, sessionNext{})
			return
		}
		a.next()
	case sessionNext:
		a.next()
	case sessionSnapshot:
		a.snapshot(ctx, m)
	case messages.SetApplied:
		if m.Version != a.applying {
			return // an answer to a wait that timed out
		}
		a.applying = 0
		a.cancel("apply")
		if !a.admitted {
			return // ended meanwhile
		}
		c, cancel := context.WithTimeout(context.Background(), ackTimeout)
		defer cancel()
		if err := a.cfg.Conn.Send(c, bridge.Ack{Version: m.Version}); err != nil && !errors.Is(err, bridge.ErrClosed) {
			a.log.Debug("acknowledging a snapshot failed", "version", m.Version, "err", err)
		}
		a.next()
	case sessionApplyDue:
		if m.gen != a.gen || a.applying == 0 {
			return
		}
		a.log.Warn("the registry did not take the agent's snapshot in time; going on (it asks for every set again after a restart)",
			"version", a.applying, "waited", a.cfg.ApplyTimeout)
		a.applying = 0
		a.next()
	case messages.ResendSets:
		// The registry restarted and lost the sets it had: ask the agent.
		c, cancel := context.WithTimeout(context.Background(), ackTimeout)
		defer cancel()
		_ = a.cfg.Conn.Send(c, bridge.Resync{})
	case EndSession:
		// Nothing more of this agent reaches the registry: what the pump
		// holds is dropped with the connection.
		a.admitted = false
		a.cfg.Conn.Close(m.Code, m.Reason)
	case sessionEnded:
		reason := "closed"
		if m.err != nil {
			reason = m.err.Error()
		}
		if a.admitted {
			ctx.Send(a.cfg.Agents, AgentDisconnected{Name: a.name, Session: ctx.Self(), Reason: reason})
		}
		ctx.Stop(ctx.Self())
	case *actor.Stopping:
		close(a.stop)
		a.cfg.Conn.Close(bridge.CodeGoingAway, "main ended the session")
	case *actor.Restarting:
		// A session does not survive its own failure: end the connection,
		// the agent reconnects and starts a fresh one.
		a.cfg.Conn.Close(bridge.CodeGoingAway, "main's session failed")
	}
}

// next tells the pump the session can take one more item.
func (a *agentSessionActor) next() {
	if !a.admitted || a.applying != 0 {
		return
	}
	select {
	case a.ready <- struct{}{}:
	default: // already told
	}
}

func (a *agentSessionActor) announce(ctx actor.Context, b bridge.Announce) {
	if a.announced && b == a.lastAnnounce {
		return // nothing new: nothing to log or tell
	}
	a.log.Info("agent announced itself", "host", b.Hostname, "version", b.AgentVersion, "default_tunnel", b.DefaultTunnel, "docker", b.Docker.Connected)
	a.lastAnnounce, a.announced = b, true
	ctx.Send(a.cfg.Agents, AgentAnnounced{Name: a.name, Session: ctx.Self(), Hostname: b.Hostname, Version: b.AgentVersion,
		DefaultTunnel: b.DefaultTunnel, Docker: b.Docker.Connected, DockerError: b.Docker.LastError})
}

func (a *agentSessionActor) snapshot(ctx actor.Context, m sessionSnapshot) {
	set := m.set
	set.Source = messages.AgentSource(a.name) // belt and braces: the bridge pins it too
	if m.replaced > 0 {
		a.log.Debug("the agent sent snapshots faster than main took them; only the newest was kept", "replaced", m.replaced, "version", set.Version)
	}
	a.applying = set.Version
	a.gen++
	ctx.Request(a.cfg.Registry, set)
	ctx.Send(a.cfg.Agents, AgentSnapshotSeen{Name: a.name, Session: ctx.Self(), Version: set.Version, Containers: len(set.Containers)})
	a.after(ctx, "apply", a.cfg.ApplyTimeout, sessionApplyDue{a.gen})
}

// pump reads the connection for the session. It keeps the newest snapshot
// and the newest announce not yet taken, and hands one over each time the
// session says it is ready (announces first: they are small and set the
// agent's default tunnel, which its snapshot may depend on). When the
// connection ends it reports the end; what it still held is dropped (sets
// are level-triggered: the agent sends its whole set again when it
// reconnects, and the session's source is frozen meanwhile).
func pump(conn *bridge.Conn, root *actor.RootContext, self *actor.PID, ready <-chan struct{}, stop <-chan struct{}) {
	var (
		snap     *messages.ContainerSet
		ann      *bridge.Announce
		replaced int
		canSend  bool
	)
	recv := conn.Recv()
	for {
		if canSend {
			switch {
			case ann != nil:
				root.Send(self, sessionAnnounce{*ann})
				ann, canSend = nil, false
			case snap != nil:
				root.Send(self, sessionSnapshot{set: *snap, replaced: replaced})
				snap, replaced, canSend = nil, 0, false
			}
		}
		select {
		case f, ok := <-recv:
			if !ok {
				select {
				case <-conn.Done():
				case <-stop:
					return
				}
				root.Send(self, sessionEnded{conn.Err()})
				return
			}
			switch b := f.Body.(type) {
			case bridge.Snapshot:
				if snap != nil {
					replaced++
				}
				snap = &b.Set
			case bridge.Announce:
				ann = &b
			}
		case <-ready:
			canSend = true
		case <-stop:
			return
		}
	}
}
