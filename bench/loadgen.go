package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labelgate/labelgate/bridge"
	"github.com/labelgate/labelgate/messages"
)

// LoadGenConfig configures a fleet of simulated agents.
type LoadGenConfig struct {
	// URL is main's agent listener (ws:// or wss://).
	URL        string
	Agents     int
	Containers int // per agent
	// Backoff paces reconnects exactly as the product's agent link does
	// (its zero value is the product's: 1 s doubling to 60 s, jittered).
	Backoff bridge.BackoffConfig
	Options bridge.Options
}

// AgentName and AgentToken name simulated agent i and its token, as main's
// LABELGATE_AGENT_AGENTS must list them.
func AgentName(i int) string  { return fmt.Sprintf("sim%04d", i) }
func AgentToken(i int) string { return fmt.Sprintf("lgbench-token-%04d-0123456789", i) }

// FleetHostname is the tunnel hostname of container c of agent i.
func FleetHostname(i, c int) string { return fmt.Sprintf("c%02d-a%04d.%s", c, i, Zone) }

// LoadGen is a fleet of simulated agents: no Docker, each agent holds a
// fixed container set and speaks the real bridge protocol (bridge.Dial with
// the agent role, the token proof, announce, snapshot, ack). Like the
// product's agent link it sends the announce and its full set on every
// connect, resends on resync, and reconnects forever with its own
// bridge.Backoff (Connected on success, Next before every retry and after
// every session end).
type LoadGen struct {
	cfg    LoadGenConfig
	agents []*simAgent
	cancel context.CancelFunc
	wg     sync.WaitGroup

	connected  atomic.Int64 // agents with a live session
	connects   atomic.Int64 // successful dials, ever
	dialErrors atomic.Int64
	acks       atomic.Int64 // acks of the agents' current versions
	sent       atomic.Int64 // snapshots sent
}

type simAgent struct {
	i       int
	set     atomic.Pointer[messages.ContainerSet]
	acked   atomic.Uint64 // last version main acknowledged
	ackedAt atomic.Int64  // unix nanos of the ack of the current version
	upAt    atomic.Int64  // unix nanos of the current session's start
	kick    chan struct{} // a new set to send
}

// NewLoadGen builds the fleet; Start connects it.
func NewLoadGen(cfg LoadGenConfig) *LoadGen {
	g := &LoadGen{cfg: cfg}
	for i := range cfg.Agents {
		a := &simAgent{i: i, kick: make(chan struct{}, 1)}
		a.set.Store(fleetSet(i, cfg.Containers, 1, ""))
		g.agents = append(g.agents, a)
	}
	return g
}

// fleetSet is agent i's container set: n containers, each with one tunnel
// route on the default tunnel (and so one proxied CNAME).
func fleetSet(i, n int, version uint64, salt string) *messages.ContainerSet {
	now := time.Now()
	set := &messages.ContainerSet{Source: messages.AgentSource(AgentName(i)), Version: version, ObservedAt: now}
	for c := range n {
		name := fmt.Sprintf("web%02d", c)
		set.Containers = append(set.Containers, messages.Container{
			ID: fmt.Sprintf("%012x", i*1000+c), Name: name, State: "running", Created: now,
			Labels: map[string]string{
				"labelgate.tunnel.web.hostname": FleetHostname(i, c),
				"labelgate.tunnel.web.service":  "http://" + name + salt + ":8080",
			},
			Networks: []messages.Network{{Name: "bridge", IPv4: fmt.Sprintf("172.17.%d.%d", c/250, 2+c%250)}},
		})
	}
	return set
}

// Start connects every agent, each in its own goroutine, at once.
func (g *LoadGen) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	for _, a := range g.agents {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			g.run(ctx, a)
		}()
	}
}

// Stop disconnects every agent.
func (g *LoadGen) Stop() {
	g.cancel()
	g.wg.Wait()
}

// Connected is the number of agents with a live session.
func (g *LoadGen) Connected() int { return int(g.connected.Load()) }

// Connects is the number of successful dials so far.
func (g *LoadGen) Connects() int { return int(g.connects.Load()) }

// DialErrors is the number of failed dials so far.
func (g *LoadGen) DialErrors() int { return int(g.dialErrors.Load()) }

// Sent is the number of snapshots sent so far.
func (g *LoadGen) Sent() int { return int(g.sent.Load()) }

// AckedAll reports how many agents main has acknowledged the current set
// of on their current session, and when the last of those acks came.
func (g *LoadGen) AckedAll() (n int, last time.Time) {
	n, _, last = g.Acks()
	return n, last
}

// Acks is AckedAll with the time of the first of those acks too.
func (g *LoadGen) Acks() (n int, first, last time.Time) {
	var firstNs, lastNs int64
	for _, a := range g.agents {
		if a.acked.Load() == a.set.Load().Version {
			n++
			at := a.ackedAt.Load()
			lastNs = max(lastNs, at)
			if firstNs == 0 || at < firstNs {
				firstNs = at
			}
		}
	}
	if lastNs > 0 {
		first, last = time.Unix(0, firstNs), time.Unix(0, lastNs)
	}
	return n, first, last
}

// UpSince returns the time by which every agent had its current session
// (the last reconnect), or false if some are down.
func (g *LoadGen) UpSince() (time.Time, bool) {
	var last int64
	for _, a := range g.agents {
		up := a.upAt.Load()
		if up == 0 {
			return time.Time{}, false
		}
		last = max(last, up)
	}
	return time.Unix(0, last), true
}

// Bump gives every agent a new version of its set with every service
// changed (salt) and sends it on the live session.
func (g *LoadGen) Bump(salt string) {
	for _, a := range g.agents {
		cur := a.set.Load()
		a.set.Store(fleetSet(a.i, g.cfg.Containers, cur.Version+1, salt))
		select {
		case a.kick <- struct{}{}:
		default:
		}
	}
}

// run is the agent link's dial loop (actors/agentlink.go dialLoop).
func (g *LoadGen) run(ctx context.Context, a *simAgent) {
	b := bridge.NewBackoff(g.cfg.Backoff)
	dial := bridge.DialConfig{URL: g.cfg.URL, Role: bridge.RoleAgent,
		Key: bridge.Key{Name: "main", Token: []byte(AgentToken(a.i))}, Options: g.cfg.Options}
	for ctx.Err() == nil {
		conn, err := bridge.Dial(ctx, dial)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			g.dialErrors.Add(1)
			if sleepCtx(ctx, b.Next()) != nil {
				return
			}
			continue
		}
		b.Connected()
		g.connects.Add(1)
		g.connected.Add(1)
		a.upAt.Store(time.Now().UnixNano())
		g.session(ctx, a, conn)
		a.upAt.Store(0)
		a.acked.Store(0)
		g.connected.Add(-1)
		if sleepCtx(ctx, b.Next()) != nil {
			return
		}
	}
}

// session serves one connection: announce and the full set, then acks,
// resyncs and new sets until the connection ends.
func (g *LoadGen) session(ctx context.Context, a *simAgent, conn *bridge.Conn) {
	defer conn.Close(bridge.CodeGoingAway, "the simulated agent is stopping")
	a.acked.Store(0) // a new session (maybe a new main) acknowledges afresh
	send := func(body bridge.Body) bool {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := conn.Send(c, body)
		return err == nil || !errors.Is(err, bridge.ErrClosed)
	}
	sendSet := func() bool {
		set := a.set.Load()
		g.sent.Add(1)
		return send(bridge.Snapshot{Set: *set})
	}
	if !send(bridge.Announce{Hostname: AgentName(a.i), AgentVersion: "lgbench", Docker: bridge.DockerStatus{Connected: true}}) || !sendSet() {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.kick:
			if !sendSet() {
				return
			}
		case f, ok := <-conn.Recv():
			if !ok {
				return
			}
			switch b := f.Body.(type) {
			case bridge.Ack:
				if b.Version == a.set.Load().Version && a.acked.Load() != b.Version {
					a.acked.Store(b.Version)
					a.ackedAt.Store(time.Now().UnixNano())
					g.acks.Add(1)
				}
			case bridge.Resync:
				if !sendSet() {
					return
				}
			}
		}
	}
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
