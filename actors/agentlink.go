package actors

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/labelgate/labelgate/bridge"
	"github.com/labelgate/labelgate/dockerwatch"
	"github.com/labelgate/labelgate/messages"
)

// AgentLinkConfig configures the agent's link to main.
type AgentLinkConfig struct {
	// Inbound: main dials this agent (Listen, TLS, Key); otherwise the
	// agent dials main (Dial, Backoff).
	Inbound    bool
	Dial       bridge.DialConfig
	Backoff    bridge.BackoffConfig
	Listen     string
	TLS        *tls.Config
	RequireTLS bool
	Key        bridge.Key
	Options    bridge.Options
	// What the agent announces.
	Hostname      string
	Version       string
	DefaultTunnel string
	Logger        *slog.Logger
}

type (
	linkUp   struct{ conn *bridge.Conn }
	linkDown struct {
		conn *bridge.Conn
		err  error
	}
	linkFrame struct {
		conn *bridge.Conn
		f    bridge.Frame
	}
	linkOffer struct{ conn *bridge.Conn }
	linkDied  struct{ err error }
)

// agentLinkActor is the agent's whole job besides watching Docker: keep one
// session with main (dialing with backoff in outbound mode, accepting one
// main at a time in inbound mode), announce itself, and send its full
// container set on connect and after every change. It never parses labels
// and never needs a Cloudflare token.
type agentLinkActor struct {
	cfg    AgentLinkConfig
	last   *messages.ContainerSet
	docker dockerwatch.Status
	conn   *bridge.Conn
	status messages.LinkStatus
	// stopDial ends the dial loop (outbound mode); port serves main
	// (inbound mode).
	stopDial func()
	port     *bridge.Port
	log      *slog.Logger
}

// NewAgentLinkProps builds the agent's link to main.
func NewAgentLinkProps(cfg AgentLinkConfig) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &agentLinkActor{cfg: cfg}
	}, actor.WithReceiverMiddleware(PanicLogger(cfg.Logger)))
}

func (a *agentLinkActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.log = a.cfg.Logger.With("actor", "link")
		a.status.Mode = "outbound"
		if a.cfg.Inbound {
			a.status.Mode = "inbound"
		}
		if a.cfg.Inbound {
			a.listen(ctx)
		} else {
			a.dial(ctx)
		}
	case *actor.Stopping, *actor.Restarting:
		if a.conn != nil {
			a.conn.Close(bridge.CodeGoingAway, "the agent is stopping")
		}
		if a.stopDial != nil {
			a.stopDial()
		}
		if a.port != nil {
			a.port.Stop()
		}
	case linkOffer:
		if a.conn != nil {
			ctx.Respond(&bridge.CloseError{Code: bridge.CodeBusy, Reason: "another main is connected"})
			a.log.Warn("refused a second main: another one is connected", "remote", m.conn.Peer().RemoteAddr)
			return
		}
		ctx.Respond(nil)
		a.up(ctx, m.conn)
	case linkUp:
		a.up(ctx, m.conn)
	case linkDown:
		if m.conn != a.conn {
			return
		}
		a.conn = nil
		a.status.Connected, a.status.Since = false, time.Now()
		if m.err != nil {
			a.status.LastError = m.err.Error()
		}
		a.log.Warn("disconnected from main", "err", m.err)
	case linkFrame:
		if m.conn != a.conn {
			return
		}
		switch b := m.f.Body.(type) {
		case bridge.Ack:
			a.status.Acked = b.Version
		case bridge.Resync:
			a.sendSnapshot()
		default:
			a.conn.Close(bridge.CodeProtocol, "unexpected "+string(m.f.Type())+" frame from main")
		}
	case messages.ContainerSet:
		a.last = &m
		a.sendSnapshot()
	case dockerwatch.Status:
		changed := a.docker.Connected != m.Connected
		a.docker = m
		a.status.Docker, a.status.DockerError = m.Connected, ""
		if m.LastError != nil && !m.Connected {
			a.status.DockerError = m.LastError.Error()
		}
		if changed {
			a.sendAnnounce()
		}
	case linkDied:
		panic(m.err)
	case messages.QueryLink:
		st := a.status
		if a.port != nil {
			if err := a.port.Health(); err != nil {
				st.ListenerError = err.Error()
			}
		}
		ctx.Respond(st)
	}
}

// up starts using a fresh session: a reader goroutine, then the announce
// and the full set (level-triggered: main never depends on deltas).
func (a *agentLinkActor) up(ctx actor.Context, conn *bridge.Conn) {
	if a.conn != nil {
		a.conn.Close(bridge.CodeGoingAway, "replaced by a newer session")
	}
	a.conn = conn
	p := conn.Peer()
	a.status.Connected, a.status.Since, a.status.TLSMode, a.status.LastError = true, time.Now(), string(p.Mode), ""
	logTLSMode(a.log.With("main", p.RemoteAddr), p)
	self, root := ctx.Self(), ctx.ActorSystem().Root
	go func() {
		for f := range conn.Recv() {
			root.Send(self, linkFrame{conn, f})
		}
		<-conn.Done()
		root.Send(self, linkDown{conn, conn.Err()})
	}()
	a.sendAnnounce()
	a.sendSnapshot()
}

func (a *agentLinkActor) send(body bridge.Body) {
	if a.conn == nil {
		return
	}
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := a.conn.Send(c, body); err != nil && !errors.Is(err, bridge.ErrClosed) {
		a.log.Warn("sending to main failed", "type", body.FrameType(), "err", err)
	}
}

func (a *agentLinkActor) sendAnnounce() {
	ds := bridge.DockerStatus{Connected: a.docker.Connected}
	if a.docker.LastError != nil && !a.docker.Connected {
		ds.LastError = a.docker.LastError.Error()
	}
	// Cut to main's caps: a long Docker error must not get the announce
	// refused.
	a.send(bridge.TruncateAnnounce(bridge.Announce{Hostname: a.cfg.Hostname, AgentVersion: a.cfg.Version, DefaultTunnel: a.cfg.DefaultTunnel, Docker: ds}))
}

// sendSnapshot sends the last full set, if the agent has listed Docker yet.
func (a *agentLinkActor) sendSnapshot() {
	if a.last == nil || a.conn == nil {
		return
	}
	a.send(bridge.Snapshot{Set: *a.last})
	a.status.Sent = a.last.Version
}

// dial dials main with capped, jittered backoff, forever.
func (a *agentLinkActor) dial(ctx actor.Context) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	log := a.log.With("url", a.cfg.Dial.URL)
	a.stopDial = bridge.StartRedial(bridge.RedialConfig{
		Dial: a.cfg.Dial, Backoff: a.cfg.Backoff, StopReason: "the agent is stopping",
		OnConnected: func(conn *bridge.Conn) { root.Send(self, linkUp{conn}) },
		OnFailed: func(err error, wait time.Duration) {
			log.Warn("connecting to main failed; retrying", "err", err, "in", wait.Round(time.Millisecond))
		},
	})
}

// listen serves the bridge for main (inbound mode): one main at a time.
func (a *agentLinkActor) listen(ctx actor.Context) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	port, err := bridge.ServePort(a.cfg.Listen, bridge.ListenConfig{
		Role: bridge.RoleAgent, Keys: bridge.Keys{a.cfg.Key}, Options: a.cfg.Options,
		TLS: a.cfg.TLS, RequireTLS: a.cfg.RequireTLS,
		Accept: func(conn *bridge.Conn) error {
			res, err := root.RequestFuture(self, linkOffer{conn}, 5*time.Second).Result()
			if err != nil {
				return err
			}
			if e, ok := res.(error); ok && e != nil {
				return e
			}
			return nil
		},
	}, func(err error) {
		root.Send(self, linkDied{fmt.Errorf("the listener for main stopped: %w", err)})
	})
	if err != nil {
		panic(fmt.Errorf("listening for main: %w", err))
	}
	a.port = port
	a.log.Info("listening for main", "addr", port.Addr().String(), "tls_required", a.cfg.RequireTLS)
}
