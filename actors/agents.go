package actors

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/time/rate"

	"github.com/labelgate/labelgate/bridge"
	"github.com/labelgate/labelgate/messages"
	"github.com/labelgate/labelgate/ratelog"
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
	AllowedZones     []string
	AllowedTunnels   []string
	Inbound          bool // main dials it
	// TokenFingerprint identifies the agent's configured token (see
	// TokenFingerprint): a decommission holds while it stays the same.
	TokenFingerprint string
}

// TokenFingerprint is a keyed digest of an agent token: it tells whether the
// token changed since an agent was decommissioned without storing the token.
func TokenFingerprint(token string) string {
	if token == "" {
		return ""
	}
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("labelgate agent revocation v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// Messages from agent sessions to the directory.
type (
	// AgentConnected: a session authenticated as Name and asks to be
	// admitted; the reply is messages.AgentAdmission.
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
)

// AgentState is the directory's view of one agent.
type AgentState struct {
	Name       string
	Info       AgentInfo
	Configured bool
	// State: connected, disconnected, stale, decommissioned, unknown (known
	// from the store, not heard from since start).
	State       messages.AgentStatus
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
	announced   bool // the session has announced itself
}

// ErrUnknownAgent is what the answer to a decommission or an enable of an
// agent nobody knows wraps (errors.Is).
var ErrUnknownAgent = errors.New("unknown agent")

// errUnknownAgent answers a decommission or an enable of an agent nobody
// knows.
type errUnknownAgent struct{ name string }

func (e errUnknownAgent) Error() string { return "unknown agent " + e.name }

func (e errUnknownAgent) Is(target error) bool { return target == ErrUnknownAgent }

type agentStaleCheck struct{ name string }

// agentsActor is the directory of agents: it tracks every agent's
// connection, turns disconnects into frozen claims and, after StaleTTL,
// into gone ones (DESIGN §5.4), persists what it learns, and tells the
// registry. Sessions report to it; it never talks to the network.
type agentsActor struct {
	timers
	cfg    AgentsConfig
	agents map[string]*AgentState
	// loaded is set once the store's agents and revocations are in; until
	// then no session is admitted (a decommissioned agent must not slip in
	// at start-up).
	loaded  bool
	waiting []waitingSession
	// revoked holds, per decommissioned agent, the fingerprint of the token
	// it was decommissioned with.
	revoked map[string]string
	refusal *ratelog.Line // refused agents: decommissioned, or reconnecting too often
	// admissions paces each agent's sessions: a peer with a valid token that
	// reconnects in a loop would otherwise cost log lines and stored events
	// at its own pace.
	admissions map[string]*rate.Limiter
}

type waitingSession struct {
	msg    AgentConnected
	sender *actor.PID
}

// refusedLogEvery spaces the log lines of refused agents: a decommissioned
// agent retries every minute or so for as long as it runs.
const refusedLogEvery = time.Minute

// An agent may start admissionBurst sessions at once, then one per
// admissionEvery: far more than an agent reconnecting with backoff needs.
const (
	admissionBurst = 10
	admissionEvery = 6 * time.Second
)

// NewAgentsProps builds the agents directory.
func NewAgentsProps(cfg AgentsConfig) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &agentsActor{cfg: cfg}
	}, withMiddleware(cfg.Logger))
}

func (a *agentsActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.agents, a.revoked, a.admissions = map[string]*AgentState{}, map[string]string{}, map[string]*rate.Limiter{}
		a.refusal = ratelog.New(a.cfg.Logger, slog.LevelWarn, "an agent's session was refused", refusedLogEvery, 3)
		for name, info := range a.cfg.Configured {
			a.agents[name] = &AgentState{Name: name, Info: info, Configured: true, State: messages.AgentStatusUnknown}
		}
		ctx.Request(a.cfg.Store, storeLoadAgents{})
	case storeAgentsLoaded:
		if m.Err != nil {
			panic(m.Err)
		}
		a.load(ctx, m)
		a.loaded = true
		for _, w := range a.waiting {
			a.admit(ctx, w.msg, w.sender)
		}
		a.waiting = nil
	case AgentConnected:
		if !a.loaded {
			a.waiting = append(a.waiting, waitingSession{m, ctx.Sender()})
			return
		}
		a.admit(ctx, m, ctx.Sender())
	case AgentAnnounced:
		ag := a.agent(m.Name)
		if !m.Session.Equal(ag.session) {
			return
		}
		changed := ag.Announced != m.DefaultTunnel
		first := !ag.announced
		ag.Hostname, ag.Version, ag.Announced, ag.Docker, ag.DockerError, ag.LastSeen = m.Hostname, m.Version, m.DefaultTunnel, m.Docker, m.DockerError, time.Now()
		ag.announced = true
		// The registry hears of the session's first announce and of a new
		// default tunnel (each rebuilds the agent's claims), not of every
		// announce a chatty agent sends.
		if first || changed {
			ctx.Send(a.cfg.Registry, messages.SourceStatusChanged{Source: messages.AgentSource(m.Name), Status: messages.SourceConnected, DefaultTunnel: m.DefaultTunnel})
		}
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
		ag.session, ag.State, ag.LastSeen = nil, messages.AgentStatusDisconnected, time.Now()
		a.cfg.Logger.Warn("agent disconnected; its claims are frozen", "event", "agent_disconnected", "agent", m.Name, "reason", m.Reason, "stale_after", a.cfg.StaleTTL)
		a.record(ctx, ag, store.LevelWarn, "agent_disconnected", "agent "+m.Name+" disconnected ("+m.Reason+"); its claims are frozen until "+ag.LastSeen.Add(a.cfg.StaleTTL).UTC().Format(time.RFC3339))
		ctx.Send(a.cfg.Registry, messages.SourceStatusChanged{Source: messages.AgentSource(m.Name), Status: messages.SourceFrozen, DefaultTunnel: ag.Announced})
		a.scheduleStale(ctx, ag)
	case agentStaleCheck:
		ag := a.agents[m.name]
		if ag == nil || ag.session != nil || ag.State == messages.AgentStatusStale || ag.State == messages.AgentStatusDecommissioned {
			return
		}
		if time.Since(ag.LastSeen) < a.cfg.StaleTTL {
			a.scheduleStale(ctx, ag)
			return
		}
		ag.State, ag.StaleSince = messages.AgentStatusStale, time.Now()
		a.cfg.Logger.Warn("agent stale: its claims leave now, with the usual grace", "event", "agent_stale", "agent", ag.Name, "last_seen", ag.LastSeen)
		a.record(ctx, ag, store.LevelWarn, "agent_stale", "agent "+ag.Name+" has not been seen since "+ag.LastSeen.UTC().Format(time.RFC3339)+"; its claims leave")
		ctx.Send(a.cfg.Registry, messages.SourceStatusChanged{Source: messages.AgentSource(ag.Name), Status: messages.SourceGone, DefaultTunnel: ag.Announced})
	case messages.DecommissionAgent:
		ag, ok := a.agents[m.Name]
		if !ok {
			ctx.Respond(errUnknownAgent{m.Name})
			return
		}
		if ag.session != nil {
			ctx.Send(ag.session, EndSession{Code: bridge.CodeRefused, Reason: decommissionedReason(ag.Name)})
			ag.session = nil
		}
		ag.State, ag.StaleSince = messages.AgentStatusDecommissioned, time.Now()
		fp := ag.Info.TokenFingerprint
		a.revoked[ag.Name] = fp
		ctx.Send(a.cfg.Store, storePutRevocation{Revocation: store.Revocation{Name: ag.Name, TokenFingerprint: fp, RevokedAt: time.Now()}})
		a.cfg.Logger.Warn("agent decommissioned: its claims leave now, with the usual grace, and it is refused until enabled again or given a new token", "event", "agent_decommissioned", "agent", ag.Name)
		a.record(ctx, ag, store.LevelWarn, "agent_decommissioned", "agent "+ag.Name+" was decommissioned; its claims leave, and it is refused until an operator enables it again or its token changes")
		// Revoked, not just gone: a snapshot still in flight from the
		// ended session must not bring its claims back.
		ctx.Send(a.cfg.Registry, messages.SourceStatusChanged{Source: messages.AgentSource(ag.Name), Status: messages.SourceRevoked, DefaultTunnel: ag.Announced})
		ctx.Respond(nil)
	case messages.EnableAgent:
		ag, ok := a.agents[m.Name]
		if !ok {
			ctx.Respond(errUnknownAgent{m.Name})
			return
		}
		if ag.State != messages.AgentStatusDecommissioned {
			ctx.Respond(nil) // nothing to lift
			return
		}
		a.enable(ctx, ag, "agent "+ag.Name+" was enabled again by an operator; it may connect")
		ctx.Respond(nil)
	case messages.QueryAgents:
		out := make([]AgentState, 0, len(a.agents))
		for _, name := range slices.Sorted(maps.Keys(a.agents)) {
			out = append(out, *a.agents[name])
		}
		ctx.Respond(out)
	}
}

// load takes the store's view of the agents: their last known state, and
// the revocations of decommissioned ones. A revocation holds only while the
// agent's token is the one it was decommissioned with.
func (a *agentsActor) load(ctx actor.Context, m storeAgentsLoaded) {
	for _, r := range m.Revocations {
		a.revoked[r.Name] = r.TokenFingerprint
	}
	for _, s := range m.Agents {
		ag := a.agent(s.Name)
		if ag.State != messages.AgentStatusUnknown {
			continue
		}
		ag.LastSeen, ag.Hostname, ag.Version, ag.Announced = s.LastSeen, s.Hostname, s.Version, s.DefaultTunnel
		if s.State == store.AgentDecommissioned {
			ag.State, ag.StaleSince = messages.AgentStatusDecommissioned, s.StaleSince
			fp, revoked := a.revoked[s.Name]
			switch {
			case !revoked:
				// Decommissioned before revocations were recorded: hold it
				// under the token it has now.
				a.revoked[s.Name] = ag.Info.TokenFingerprint
				ctx.Send(a.cfg.Store, storePutRevocation{Revocation: store.Revocation{Name: s.Name, TokenFingerprint: ag.Info.TokenFingerprint, RevokedAt: s.StaleSince}})
			case ag.Info.TokenFingerprint != "" && fp != ag.Info.TokenFingerprint:
				a.enable(ctx, ag, "agent "+ag.Name+" has a new token since it was decommissioned; it may connect again")
			}
			continue
		}
		ag.StaleSince = s.StaleSince
		a.scheduleStale(ctx, ag)
	}
}

// admit answers a session's AgentConnected: a decommissioned agent is
// refused, any other becomes this agent's session.
func (a *agentsActor) admit(ctx actor.Context, m AgentConnected, sender *actor.PID) {
	ag := a.agent(m.Name)
	// Every attempt spends the agent's budget, refused ones too: a
	// decommissioned agent is the one most likely to retry in a loop.
	lim := a.admissions[m.Name]
	if lim == nil {
		lim = rate.NewLimiter(rate.Every(admissionEvery), admissionBurst)
		a.admissions[m.Name] = lim
	}
	if !lim.Allow() {
		a.refusal.Log("agent", m.Name, "remote", m.Remote, "reason", "reconnecting too often")
		ctx.Send(sender, messages.AgentAdmission{Refused: "agent " + m.Name + " reconnects too often; main takes one session per " + admissionEvery.String() + " after a burst of " + fmt.Sprint(admissionBurst)})
		return
	}
	if ag.State == messages.AgentStatusDecommissioned {
		a.refusal.Log("agent", m.Name, "remote", m.Remote, "reason", "decommissioned")
		ctx.Send(sender, messages.AgentAdmission{Refused: decommissionedReason(m.Name)})
		return
	}
	if ag.session != nil && !ag.session.Equal(m.Session) {
		a.cfg.Logger.Warn("a second connection authenticated as this agent; the older one is closed (do two hosts share one token?)", "agent", m.Name, "remote", m.Remote)
		ctx.Stop(ag.session)
	}
	ag.session, ag.State, ag.Remote, ag.TLSMode, ag.LastSeen, ag.StaleSince = m.Session, messages.AgentStatusConnected, m.Remote, m.TLSMode, time.Now(), time.Time{}
	ag.announced = false
	a.cfg.Logger.Info("agent connected", "event", "agent_connected", "agent", m.Name, "remote", m.Remote, "tls", m.TLSMode)
	a.record(ctx, ag, store.LevelInfo, "agent_connected", "agent "+m.Name+" connected from "+m.Remote+" ("+m.TLSMode+")")
	ctx.Send(sender, messages.AgentAdmission{})
}

// enable lifts an agent's decommission. Its claims left when it was
// decommissioned; it is stale until it connects again.
func (a *agentsActor) enable(ctx actor.Context, ag *AgentState, msg string) {
	delete(a.revoked, ag.Name)
	ag.State = messages.AgentStatusStale
	ctx.Send(a.cfg.Store, storeDeleteRevocation{Name: ag.Name})
	ctx.Send(a.cfg.Registry, messages.SourceStatusChanged{Source: messages.AgentSource(ag.Name), Status: messages.SourceEnabled, DefaultTunnel: ag.Announced})
	a.cfg.Logger.Info(msg, "event", "agent_enabled", "agent", ag.Name)
	a.record(ctx, ag, store.LevelInfo, "agent_enabled", msg)
}

func decommissionedReason(name string) string {
	return "agent " + name + " is decommissioned on main; an operator must enable it again, or give it a new token"
}

func (a *agentsActor) agent(name string) *AgentState {
	ag := a.agents[name]
	if ag == nil {
		ag = &AgentState{Name: name, State: messages.AgentStatusUnknown}
		a.agents[name] = ag
	}
	return ag
}

func (a *agentsActor) scheduleStale(ctx actor.Context, ag *AgentState) {
	if ag.LastSeen.IsZero() {
		ag.LastSeen = time.Now() // never seen: the TTL runs from now
	}
	d := time.Until(ag.LastSeen.Add(a.cfg.StaleTTL))
	a.after(ctx, "stale/"+ag.Name, d, agentStaleCheck{ag.Name})
}

func (a *agentsActor) persist(ctx actor.Context, ag *AgentState) {
	state := store.AgentConnected
	switch ag.State {
	case messages.AgentStatusDecommissioned:
		state = store.AgentDecommissioned
	case messages.AgentStatusDisconnected, messages.AgentStatusStale, messages.AgentStatusUnknown:
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
