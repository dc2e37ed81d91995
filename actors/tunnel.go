package actors

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/messages"
	"github.com/labelgate/labelgate/store"
)

// tunnelActor owns one tunnel's ingress (DESIGN §5.2): debounced GET →
// merge → PUT, skipped when nothing changed.
type tunnelActor struct {
	reconciler
	name      string
	ref       TunnelRef
	desired   []messages.DesiredRule
	settled   bool
	have      bool // a desired state arrived
	owned     map[ruleKey]bool
	loaded    bool
	getID     uint64
	putID     uint64
	plan      TunnelPlan
	conflicts map[string]bool
}

// NewTunnelProps builds the actor that owns tunnel name's ingress.
func NewTunnelProps(name string, ref TunnelRef, cfg PlannerConfig) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		a := &tunnelActor{reconciler: newReconciler(cfg, "tunnel:"+name), name: name, ref: ref, conflicts: map[string]bool{}}
		a.status.Kind = "tunnel_rule"
		a.counts = func() (int, int) { return len(a.desired), len(a.owned) }
		return a
	}, actor.WithReceiverMiddleware(PanicLogger(cfg.Logger)))
}

func (a *tunnelActor) log() *slog.Logger {
	return a.cfg.Logger.With("actor", "tunnel", "tunnel", a.name)
}

func (a *tunnelActor) Receive(ctx actor.Context) {
	if a.common(ctx, a.loaded && a.have) {
		return
	}
	switch m := ctx.Message().(type) {
	case *actor.Started:
		ctx.Request(a.cfg.Store, storeLoadOwned{Kind: store.KindTunnelRule, Scope: a.ref.TunnelID})
		a.drift(ctx)
	case storeOwnedLoaded:
		if m.Err != nil {
			panic(m.Err) // the supervisor retries with backoff
		}
		a.owned = map[ruleKey]bool{}
		for _, o := range m.Objects {
			host, path, _ := strings.Cut(o.Key, " ")
			a.owned[ruleKey{host, path}] = true
		}
		a.loaded = true
		if a.have && worthReconciling(a.settled, len(a.desired)) {
			a.request(ctx, 0)
		}
	case messages.DesiredState:
		t := m.Tunnels[a.name]
		if a.have && a.settled == m.Settled && sameRules(a.desired, t.Rules) {
			return
		}
		a.desired, a.settled, a.have = t.Rules, m.Settled, true
		if a.loaded && worthReconciling(a.settled, len(a.desired)) {
			a.request(ctx, a.cfg.Debounce)
		}
	case reconcileNow:
		if a.loaded && a.have && a.begin() {
			a.getID = a.ask(ctx, prioTunnel, a.ref.AccountID, opGetTunnelConfig{TunnelID: a.ref.TunnelID})
		}
	case cfResponse:
		switch m.ID {
		case a.getID:
			a.onGet(ctx, m)
		case a.putID:
			a.onPut(ctx, m)
		}
	}
}

func (a *tunnelActor) onGet(ctx actor.Context, m cfResponse) {
	if m.Err != nil {
		// A failed observation aborts the plan; it never reads as "empty".
		a.log().Error("reading the tunnel configuration failed; will retry", "err", m.Err)
		a.end(ctx, fmt.Errorf("reading the tunnel configuration: %w", m.Err))
		return
	}
	live := m.Result.(cfapi.TunnelConfig)
	pol := a.mode()
	pol.Settled = a.settled
	a.plan = planTunnel(live, a.desired, a.owned, pol)
	a.reportConflicts(ctx, a.plan.Conflicts)
	if !a.plan.Changed {
		a.recordOwned(ctx, a.plan.Owned)
		a.end(ctx, nil)
		return
	}
	if a.cfg.DryRun {
		a.log().Info("dry run: would write the tunnel configuration", "add", a.plan.Added, "update", a.plan.Updated, "remove", a.plan.Removed)
		a.end(ctx, nil)
		return
	}
	a.putID = a.ask(ctx, prioTunnel, a.ref.AccountID, opPutTunnelConfig{TunnelID: a.ref.TunnelID, Config: a.plan.Config})
}

func (a *tunnelActor) onPut(ctx actor.Context, m cfResponse) {
	if m.Err != nil {
		a.log().Error("writing the tunnel configuration failed; will retry", "err", m.Err)
		a.end(ctx, fmt.Errorf("writing the tunnel configuration: %w", m.Err))
		return
	}
	a.recordOwned(ctx, a.plan.Owned)
	var events []store.Event
	now := time.Now()
	owners := a.owners()
	var lines changeLines
	for _, what := range []struct {
		kind  string
		items []string
	}{{"created", a.plan.Added}, {"updated", a.plan.Updated}, {"deleted", a.plan.Removed}} {
		for _, k := range what.items {
			if !lines.take(what.kind) {
				continue
			}
			host, _, _ := strings.Cut(k, " ")
			o := owners[host]
			msg := "tunnel " + a.name + ": route " + k + " " + what.kind
			a.log().Info(msg, "event", what.kind, "hostname", host, "source", o.Source, "container", o.Container)
			events = append(events, store.Event{At: now, Level: store.LevelInfo, Kind: what.kind, Hostname: host, Source: o.Source, Container: o.Container, Message: msg})
		}
	}
	if e, ok := lines.summary(now, "tunnel "+a.name+": routes"); ok {
		a.log().Info(e.Message, "event", e.Kind)
		events = append(events, e)
	}
	if len(events) > 0 {
		ctx.Send(a.cfg.Store, storeAppendEvents{Events: events})
	}
	a.end(ctx, nil)
}

// owners maps each hostname of the desired rules to the claim its first
// rule comes from (a removed route has none: nobody claims it any more).
func (a *tunnelActor) owners() map[string]messages.Owner {
	out := make(map[string]messages.Owner, len(a.desired))
	for _, r := range a.desired {
		if _, ok := out[r.Hostname]; !ok {
			out[r.Hostname] = r.Owner
		}
	}
	return out
}

// recordOwned brings the store's owned set in line with keys.
func (a *tunnelActor) recordOwned(ctx actor.Context, keys []ruleKey) {
	next := map[ruleKey]bool{}
	for _, k := range keys {
		next[k] = true
	}
	if maps.Equal(next, a.owned) {
		return
	}
	var puts []store.OwnedObject
	var dels []store.OwnedKey
	for k := range next {
		if !a.owned[k] {
			puts = append(puts, store.OwnedObject{OwnedKey: store.OwnedKey{Kind: store.KindTunnelRule, Scope: a.ref.TunnelID, Key: k.Hostname + " " + k.Path}, Hostname: k.Hostname})
		}
	}
	for k := range a.owned {
		if !next[k] {
			dels = append(dels, store.OwnedKey{Kind: store.KindTunnelRule, Scope: a.ref.TunnelID, Key: k.Hostname + " " + k.Path})
		}
	}
	a.owned = next
	ctx.Send(a.cfg.Store, storeApplyOwned{Puts: puts, Deletes: dels})
}

func (a *tunnelActor) reportConflicts(ctx actor.Context, conflicts []string) {
	a.status.Conflicts = conflicts
	reportNew(ctx, a.cfg, a.log(), a.conflicts, conflicts)
}

// reportNew logs and records conflicts not reported before, and forgets
// those that went away (so a recurrence is reported again).
func reportNew(ctx actor.Context, cfg PlannerConfig, log *slog.Logger, seen map[string]bool, conflicts []string) {
	now := map[string]bool{}
	var events []store.Event
	for _, c := range conflicts {
		now[c] = true
		if seen[c] {
			continue
		}
		log.Warn(c, "event", "conflict")
		host, _, _ := strings.Cut(c, ":")
		host, _, _ = strings.Cut(host, " path ")
		if f := strings.Fields(host); len(f) > 0 {
			host = f[len(f)-1]
		}
		events = append(events, store.Event{At: time.Now(), Level: store.LevelWarn, Kind: "conflict", Hostname: host, Message: c})
	}
	for c := range seen {
		if !now[c] {
			delete(seen, c)
		}
	}
	maps.Copy(seen, now)
	if len(events) > 0 {
		ctx.Send(cfg.Store, storeAppendEvents{Events: events})
	}
}

func sameRules(a, b []messages.DesiredRule) bool {
	return slices.EqualFunc(a, b, func(x, y messages.DesiredRule) bool {
		return x.Hostname == y.Hostname && x.Path == y.Path && x.Service == y.Service && string(x.OriginRequest) == string(y.OriginRequest)
	})
}

// maxChangeLines is how many changes of one write a planner logs and records
// one by one; the rest are counted in one summary. A write can change
// thousands of routes or records at once (an agent that rewrites its whole
// set), and one line each would flood the log.
const maxChangeLines = 20

// changeLines counts the changes of one write, by kind.
type changeLines struct {
	n       int
	skipped map[string]int
}

// take reports whether the next change of kind gets its own line.
func (c *changeLines) take(kind string) bool {
	if c.n < maxChangeLines {
		c.n++
		return true
	}
	if c.skipped == nil {
		c.skipped = map[string]int{}
	}
	c.skipped[kind]++
	return false
}

// summary is the event for the changes that got no line of their own.
func (c *changeLines) summary(now time.Time, what string) (store.Event, bool) {
	if len(c.skipped) == 0 {
		return store.Event{}, false
	}
	var parts []string
	total := 0
	for _, k := range slices.Sorted(maps.Keys(c.skipped)) {
		parts = append(parts, fmt.Sprintf("%d %s", c.skipped[k], k))
		total += c.skipped[k]
	}
	return store.Event{At: now, Level: store.LevelInfo, Kind: "summary",
		Message: fmt.Sprintf("%s: %d more changes in this write (%s)", what, total, strings.Join(parts, ", "))}, true
}
