package actors

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/labelgate/labelgate/messages"
	"github.com/labelgate/labelgate/store"
)

// RegistryConfig configures the registry actor.
type RegistryConfig struct {
	Claims      ClaimConfig
	RemoveDelay time.Duration
	// SettleTimeout bounds the wait at start for every known source.
	SettleTimeout time.Duration
	// KnownSources must all report before the settle point (local Docker and
	// every configured agent); agents found in the store are added.
	KnownSources []string
	Store        *actor.PID
	// Subscribers receive every new DesiredState (the planner actors).
	Subscribers []*actor.PID
	Logger      *slog.Logger
}

// Subscribe asks the registry to send every new DesiredState to PID (and the
// current one at once, if there is one).
type Subscribe struct{ PID *actor.PID }

// PublicIPsChanged carries a source's public addresses ("" = main's own).
type PublicIPsChanged struct {
	Source string
	IPs    PublicIPs
}

// RegistryReport is the registry's state for the API and dashboard.
type RegistryReport struct {
	Loaded      bool
	Settled     bool
	Unreported  []string // sources not heard from since start
	Hostnames   []messages.HostnameState
	LabelErrors []ContainerReport
	Desired     messages.DesiredState
}

// pendingMsg is a message kept until the store is loaded, with whoever asked
// for an answer.
type pendingMsg struct {
	msg    any
	sender *actor.PID
}

type registryTick struct{}
type registrySettleTimeout struct{}
type registryEmit struct{}

// registrySummaryDue asks for the summary of the label errors held back
// over their sources' budgets.
type registrySummaryDue struct{}

// emitWindow coalesces desired-state rebuilds: a change after a quiet
// window goes out at once, later ones are gathered for one emission per
// window. The window grows with the cost of an emission (emitCostFactor ×
// the last one, which rebuilds and encodes the whole desired state) so a
// 20,000-hostname fleet's connect wave spends at most a fifth of the
// registry's time emitting; small setups keep the 50 ms.
const (
	emitWindow     = 50 * time.Millisecond
	emitCostFactor = 4
)

// window is the current emission window.
func (a *registryActor) window() time.Duration {
	return max(emitWindow, emitCostFactor*a.emitCost)
}

type registryActor struct {
	timers
	cfg     RegistryConfig
	state   *registryState
	loaded  bool
	pending []pendingMsg // messages that arrived before the store was loaded
	subs    []*actor.PID
	last    *[sha256.Size]byte // digest of the canonical form of the last desired state sent
	desired messages.DesiredState
	version uint64
	tickAt  time.Time
	started time.Time
	// emitCost is how long the last emission's rebuild and encoding took.
	emitCost time.Duration
	// recheckDue asks flush to look for the next grace end after a tick.
	recheckDue bool
	// summaryDue is set while a registrySummaryDue is scheduled.
	summaryDue bool
	// dirty is set when decisions changed since the desired state was last
	// sent; emitting is pending while a registryEmit is scheduled.
	dirty, emitting bool
	settleBy        time.Time
}

// NewRegistryProps builds the registry actor.
func NewRegistryProps(cfg RegistryConfig) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &registryActor{cfg: cfg}
	}, withMiddleware(cfg.Logger))
}

func (a *registryActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.subs = append([]*actor.PID(nil), a.cfg.Subscribers...)
		a.state = newRegistryState(a.cfg.Claims, a.cfg.RemoveDelay, a.cfg.KnownSources)
		a.started = time.Now()
		a.settleBy = a.started.Add(a.cfg.SettleTimeout)
		ctx.Request(a.cfg.Store, storeLoadRegistry{})
		a.after(ctx, "settle", a.cfg.SettleTimeout, registrySettleTimeout{})
		if p := ctx.Parent(); p != nil {
			ctx.Request(p, messages.QueryChildren{}) // to ask the sources to resend
		}
	case map[string]*actor.PID:
		// After a restart the registry has lost the sets it had: every
		// sibling that is a source sends its last one again.
		for _, pid := range m {
			if !pid.Equal(ctx.Self()) {
				ctx.Send(pid, messages.ResendSets{})
			}
		}
	case storeRegistryLoaded:
		if m.Err != nil {
			// Without the persisted decisions nothing can be decided safely;
			// fail so the supervisor retries with backoff.
			panic(fmt.Errorf("loading the registry's state: %w", m.Err))
		}
		for _, ag := range m.Agents {
			if ag.State == store.AgentDecommissioned {
				// Refused until enabled; the agents directory says so if
				// its token changed meanwhile.
				a.state.source(messages.AgentSource(ag.Name)).status = sourceRevoked
				continue
			}
			a.state.source(messages.AgentSource(ag.Name))
		}
		if err := a.state.load(m.Claims, m.Hosts); err != nil {
			panic(err)
		}
		a.loaded = true
		for _, p := range a.pending {
			a.handle(ctx, p.msg, p.sender)
		}
		a.pending = nil
		a.flush(ctx)
	case Subscribe:
		a.subs = append(a.subs, m.PID)
		if a.loaded && a.last != nil {
			ctx.Request(m.PID, a.desired) // a request, as emit's (AccessProtected answers it)
		}
	case messages.QueryRegistry:
		rep := RegistryReport{Loaded: a.loaded}
		if a.loaded {
			rep.Settled, rep.Unreported = a.state.settled, a.state.unknownSources()
			rep.Hostnames, rep.LabelErrors, rep.Desired = a.state.hostnameStates(), a.state.labelErrors(), a.desired
		}
		ctx.Respond(rep)
	case messages.CancelDelete:
		if !a.loaded {
			ctx.Respond(errors.New("the registry is still loading"))
			return
		}
		err := a.state.cancelDelete(m.Hostname, time.Now())
		a.flush(ctx)
		ctx.Respond(err)
	case registryEmit:
		// The window after an emission ended: send what changed in it, and
		// keep the window open while changes keep coming.
		if a.dirty {
			a.emit(ctx)
			a.after(ctx, "emit", a.window(), registryEmit{})
		} else {
			a.emitting = false
		}
	case messages.AccessProtected:
		// Which protected routes may be published; before the store has
		// loaded there is nothing to publish yet, and the access actor
		// answers every desired state, so nothing is lost by waiting.
		a.state.setProtected(m.Domains)
		if a.loaded {
			a.flush(ctx)
		}
	case messages.ContainerSet, messages.SourceStatusChanged, PublicIPsChanged, registryTick, registrySettleTimeout, registrySummaryDue:
		if !a.loaded {
			a.pending = append(a.pending, pendingMsg{m, ctx.Sender()})
			return
		}
		a.handle(ctx, m, ctx.Sender())
		a.flush(ctx)
	}
}

// handle applies one message. A container set sent with Request (by an agent
// session) is answered with messages.SetApplied once it is applied: the session takes
// the agent's next snapshot only then, which bounds what an agent can make
// main hold.
func (a *registryActor) handle(ctx actor.Context, msg any, sender *actor.PID) {
	now := time.Now()
	switch m := msg.(type) {
	case messages.ContainerSet:
		if !a.state.applySet(m, now) {
			a.cfg.Logger.Debug("container set ignored (stale, or its source is revoked)", "source", m.Source, "version", m.Version)
		}
		if sender != nil {
			ctx.Send(sender, messages.SetApplied{Source: m.Source, Version: m.Version})
		}
	case messages.SourceStatusChanged:
		a.sourceStatus(m, now)
	case PublicIPsChanged:
		a.state.setPublicIPs(m.Source, m.IPs, now)
	case registryTick:
		a.tickAt, a.recheckDue = time.Time{}, true
		a.state.tick(now)
	case registrySummaryDue:
		a.summaryDue = false
		a.state.summarizeLabelErrors(now)
	case registrySettleTimeout:
		if !a.state.settled {
			a.cfg.Logger.Warn("settle timeout reached; deletes are allowed from now on", "unreported", a.state.unknownSources())
			a.state.markSettled(now)
		}
	}
	if !a.state.settled && len(a.state.unknownSources()) == 0 {
		a.cfg.Logger.Info("every known source has reported; settled", "after", now.Sub(a.started).Round(time.Millisecond))
		a.state.markSettled(now)
	}
}

func (a *registryActor) sourceStatus(m messages.SourceStatusChanged, now time.Time) {
	if m.DefaultTunnel != a.state.cfg.AnnouncedDefaults[m.Source] {
		ann := maps.Clone(a.state.cfg.AnnouncedDefaults)
		if ann == nil {
			ann = map[string]string{}
		}
		ann[m.Source] = m.DefaultTunnel
		a.state.cfg.AnnouncedDefaults = ann
		if _, ok := a.state.lastSets[m.Source]; ok {
			a.state.rebuild(m.Source, now)
		}
	}
	switch m.Status {
	case messages.SourceFrozen, messages.SourceGone, messages.SourceRevoked:
		a.state.setSourceStatus(m.Source, string(m.Status), now)
	case messages.SourceEnabled:
		a.state.enableSource(m.Source, now)
	case messages.SourceConnected:
		// Nothing changes until its first container set arrives; a source
		// that was gone is known again from then on.
		a.state.source(m.Source)
	}
}

// flush sends what the last messages decided: store writes, events, and the
// desired state if it changed.
func (a *registryActor) flush(ctx actor.Context) {
	writes, events := a.state.drain()
	changed := a.state.takeChanged()
	if changed {
		a.dirty = true
	}
	if len(writes) > 0 {
		ctx.Send(a.cfg.Store, storeRegistryWrites{Writes: writes})
	}
	if len(events) > 0 {
		for _, e := range events {
			a.cfg.Logger.Log(context.Background(), levelOf(e.Level), e.Message, "event", e.Kind, "hostname", e.Hostname, "source", e.Source, "container", e.Container)
		}
		ctx.Send(a.cfg.Store, storeAppendEvents{Events: events})
	}
	switch {
	case a.last == nil:
		a.emit(ctx) // the first desired state goes out at once
	case a.dirty && !a.emitting:
		// Leading edge: a change after a quiet window goes out at once;
		// changes within the next window are gathered into one emission.
		a.emit(ctx)
		a.emitting = true
		a.after(ctx, "emit", a.window(), registryEmit{})
	}
	// Label errors held over a source's budget are summed up after a set
	// or a tick once the budget allows; on a quiet main neither may come
	// for long, so a summary is asked for when the budget has room again.
	if a.state.heldLabelErrors() && !a.summaryDue {
		a.summaryDue = true
		a.after(ctx, "summary", errorEventEvery, registrySummaryDue{})
	}
	// The next grace end moves only when a decision changed something or
	// a tick ran (nextDue walks every hostname).
	if !changed && !a.recheckDue {
		return
	}
	a.recheckDue = false
	if due := a.state.nextDue(); !due.IsZero() && (a.tickAt.IsZero() || due.Before(a.tickAt)) {
		a.tickAt = due
		a.after(ctx, "tick", time.Until(due), registryTick{})
	}
}

// emit rebuilds the desired state and sends it on if it changed.
func (a *registryActor) emit(ctx actor.Context) {
	a.dirty = false
	began := time.Now()
	ds := a.state.desired()
	canon, _ := json.Marshal(ds)
	sum := sha256.Sum256(canon)
	a.emitCost = time.Since(began)
	if a.last != nil && sum == *a.last {
		return
	}
	a.version++
	ds.Version = a.version
	a.last, a.desired = &sum, ds
	for _, s := range a.subs {
		// Sent as a request: the access actor answers it with the domains
		// its applications protect (messages.AccessProtected).
		ctx.Request(s, ds)
	}
}

func levelOf(s string) slog.Level {
	switch s {
	case store.LevelError:
		return slog.LevelError
	case store.LevelWarn:
		return slog.LevelWarn
	}
	return slog.LevelInfo
}
