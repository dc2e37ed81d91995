package actors

import (
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/labelgate/labelgate/messages"
	"github.com/labelgate/labelgate/store"
)

// AgentsConfig configures the agents directory.
type AgentsConfig struct {
	// Configured are the agents main's configuration names, with what main
	// knows of each.
	Configured map[string]AgentInfo
	// StaleTTL is how long a disconnected agent's claims stay frozen.
	StaleTTL time.Duration
	Registry *actor.PID
	Store    *actor.PID
	Logger   *slog.Logger
}

// AgentInfo is main's configuration for one agent.
type AgentInfo struct {
	DefaultTunnel    string
	AllowedHostnames []string
	AllowedTunnels   []string
	Inbound          bool // main dials it
}

// Messages from agent sessions to the directory.
type (
	// AgentConnected: a session authenticated as Name.
	AgentConnected struct {
		Name    string
		Session *actor.PID
		Remote  string
		TLSMode string
	}
	// AgentAnnounced: the agent said who it is.
	AgentAnnounced struct {
		Name          string
		Session       *actor.PID
		Hostname      string
		Version       string
		DefaultTunnel string
		Docker        bool
		DockerError   string
	}
	// AgentSnapshotSeen: the session forwarded a snapshot.
	AgentSnapshotSeen struct {
		Name       string
		Session    *actor.PID
		Version    uint64
		Containers int
	}
	// AgentDisconnected: the session ended.
	AgentDisconnected struct {
		Name    string
		Session *actor.PID
		Reason  string
	}
	// DecommissionAgent forgets an agent now; the reply is an error or nil.
	DecommissionAgent struct{ Name string }
	// EnableAgent re-admits a decommissioned agent; the reply is an error or nil.
	EnableAgent struct{ Name string }
	// QueryAgents asks for every agent's state; the reply is []AgentState.
	QueryAgents struct{}
)

// AgentState is the directory's view of one agent.
type AgentState struct {
	Name       string
	Info       AgentInfo
	Configured bool
	// State: connected, disconnected, stale, decommissioned, unknown (known
	// from the store, not heard from since start).
	State       string
	LastSeen    time.Time
	StaleSince  time.Time
	Hostname    string
	Version     string
	Announced   string
	Docker      bool
	DockerError string
	Containers  int
	Snapshot    uint64
	Remote      string
	TLSMode     string
	session     *actor.PID
}

// errUnknownAgent answers a decommission of an agent nobody knows.
type errUnknownAgent struct{ name string }

func (e errUnknownAgent) Error() string { return "unknown agent " + e.name }

type agentStaleCheck struct{ name string }

// agentsActor is the directory of agents: it tracks every agent's
// connection, turns disconnects into frozen claims and, after StaleTTL,
// into gone ones (DESIGN §5.4), persists what it learns, and tells the
// registry. Sessions report to it; it never talks to the network.
type agentsActor struct {
	cfg    AgentsConfig
	agents map[string]*AgentState
}

// NewAgentsProps builds the agents directory.
func NewAgentsProps(cfg AgentsConfig) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &agentsActor{cfg: cfg}
	}, actor.WithReceiverMiddleware(PanicLogger(cfg.Logger)))
}

func (a *agentsActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.agents = map[string]*AgentState{}
		for name, info := range a.cfg.Configured {
			a.agents[name] = &AgentState{Name: name, Info: info, Configured: true, State: "unknown"}
		}
		ctx.Request(a.cfg.Store, storeLoadRegistry{})
	case storeRegistryLoaded:
		if m.Err != nil {
			panic(m.Err)
		}
		for _, s := range m.Agents {
			ag := a.agent(s.Name)
			if ag.State != "unknown" {
				continue // a session already reported since start
			}
			ag.LastSeen, ag.Hostname, ag.Version, ag.Announced = s.LastSeen, s.Hostname, s.Version, s.DefaultTunnel
			if s.State == store.AgentDecommissioned {
				ag.State = "decommissioned"
				continue
			}
			ag.StaleSince = s.StaleSince
			a.scheduleStale(ctx, ag)
		}
	case AgentConnected:
		ag := a.agent(m.Name)
		if ag.session != nil && !ag.session.Equal(m.Session) {
			a.cfg.Logger.Warn("a second connection authenticated as this agent; the older one is closed (do two hosts share one token?)", "agent", m.Name, "remote", m.Remote)
			ctx.Stop(ag.session)
		}
		ag.session, ag.State, ag.Remote, ag.TLSMode, ag.LastSeen, ag.StaleSince = m.Session, "connected", m.Remote, m.TLSMode, time.Now(), time.Time{}
		a.cfg.Logger.Info("agent connected", "event", "agent_connected", "agent", m.Name, "remote", m.Remote, "tls", m.TLSMode)
		a.record(ctx, ag, store.LevelInfo, "agent_connected", "agent "+m.Name+" connected from "+m.Remote+" ("+m.TLSMode+")")
	case AgentAnnounced:
		ag := a.agent(m.Name)
		if !m.Session.Equal(ag.session) {
			return
		}
		changed := ag.Announced != m.DefaultTunnel
		ag.Hostname, ag.Version, ag.Announced, ag.Docker, ag.DockerError, ag.LastSeen = m.Hostname, m.Version, m.DefaultTunnel, m.Docker, m.DockerError, time.Now()
		ctx.Send(a.cfg.Registry, SourceStatusChanged{Source: messages.AgentSource(m.Name), Status: SourceConnected, DefaultTunnel: m.DefaultTunnel})
		if changed {
			a.persist(ctx, ag)
		}
	case AgentSnapshotSeen:
		ag := a.agent(m.Name)
		if m.Session.Equal(ag.session) {
			ag.Snapshot, ag.Containers, ag.LastSeen = m.Version, m.Containers, time.Now()
		}
	case AgentDisconnected:
		ag := a.agent(m.Name)
		if !m.Session.Equal(ag.session) {
			return // an older session, already replaced
		}
		ag.session, ag.State, ag.LastSeen = nil, "disconnected", time.Now()
		a.cfg.Logger.Warn("agent disconnected; its claims are frozen", "event", "agent_disconnected", "agent", m.Name, "reason", m.Reason, "stale_after", a.cfg.StaleTTL)
		a.record(ctx, ag, store.LevelWarn, "agent_disconnected", "agent "+m.Name+" disconnected ("+m.Reason+"); its claims are frozen until "+ag.LastSeen.Add(a.cfg.StaleTTL).UTC().Format(time.RFC3339))
		ctx.Send(a.cfg.Registry, SourceStatusChanged{Source: messages.AgentSource(m.Name), Status: SourceFrozen, DefaultTunnel: ag.Announced})
		a.scheduleStale(ctx, ag)
	case agentStaleCheck:
		ag := a.agents[m.name]
		if ag == nil || ag.session != nil || ag.State == "stale" || ag.State == "decommissioned" {
			return
		}
		if time.Since(ag.LastSeen) < a.cfg.StaleTTL {
			a.scheduleStale(ctx, ag)
			return
		}
		ag.State, ag.StaleSince = "stale", time.Now()
		a.cfg.Logger.Warn("agent stale: its claims leave now, with the usual grace", "event", "agent_stale", "agent", ag.Name, "last_seen", ag.LastSeen)
		a.record(ctx, ag, store.LevelWarn, "agent_stale", "agent "+ag.Name+" has not been seen since "+ag.LastSeen.UTC().Format(time.RFC3339)+"; its claims leave")
		ctx.Send(a.cfg.Registry, SourceStatusChanged{Source: messages.AgentSource(ag.Name), Status: SourceGone, DefaultTunnel: ag.Announced})
	case DecommissionAgent:
		ag, ok := a.agents[m.Name]
		if !ok {
			ctx.Respond(errUnknownAgent{m.Name})
			return
		}
		if ag.session != nil {
			ctx.Stop(ag.session)
			ag.session = nil
		}
		ag.State, ag.StaleSince = "decommissioned", time.Now()
		a.cfg.Logger.Warn("agent decommissioned: its claims leave now, with the usual grace", "event", "agent_decommissioned", "agent", ag.Name)
		a.record(ctx, ag, store.LevelWarn, "agent_decommissioned", "agent "+ag.Name+" was decommissioned; its claims leave")
		ctx.Send(a.cfg.Registry, SourceStatusChanged{Source: messages.AgentSource(ag.Name), Status: SourceGone, DefaultTunnel: ag.Announced})
		ctx.Respond(nil)
	case EnableAgent:
		if _, ok := a.agents[m.Name]; !ok {
			ctx.Respond(errUnknownAgent{m.Name})
			return
		}
		ctx.Respond(nil)
	case QueryAgents:
		out := make([]AgentState, 0, len(a.agents))
		for _, name := range slices.Sorted(maps.Keys(a.agents)) {
			out = append(out, *a.agents[name])
		}
		ctx.Respond(out)
	}
}

func (a *agentsActor) agent(name string) *AgentState {
	ag := a.agents[name]
	if ag == nil {
		ag = &AgentState{Name: name, State: "unknown"}
		a.agents[name] = ag
	}
	return ag
}

func (a *agentsActor) scheduleStale(ctx actor.Context, ag *AgentState) {
	if ag.LastSeen.IsZero() {
		ag.LastSeen = time.Now() // never seen: the TTL runs from now
	}
	d := time.Until(ag.LastSeen.Add(a.cfg.StaleTTL))
	self, root, name := ctx.Self(), ctx.ActorSystem().Root, ag.Name
	time.AfterFunc(max(d, 0), func() { root.Send(self, agentStaleCheck{name}) })
}

func (a *agentsActor) persist(ctx actor.Context, ag *AgentState) {
	state := store.AgentConnected
	switch ag.State {
	case "decommissioned":
		state = store.AgentDecommissioned
	case "disconnected", "stale", "unknown":
		state = store.AgentDisconnected
	}
	ctx.Send(a.cfg.Store, storePutAgent{Agent: store.Agent{
		Name: ag.Name, LastSeen: ag.LastSeen, Version: ag.Version, Hostname: ag.Hostname,
		DefaultTunnel: ag.Announced, State: state, StaleSince: ag.StaleSince,
	}})
}

func (a *agentsActor) record(ctx actor.Context, ag *AgentState, level, kind, msg string) {
	a.persist(ctx, ag)
	ctx.Send(a.cfg.Store, storeAppendEvents{Events: []store.Event{{At: time.Now(), Level: level, Kind: kind, Source: messages.AgentSource(ag.Name), Message: msg}}})
}
