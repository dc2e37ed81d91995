package actors

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/messages"
	"github.com/labelgate/labelgate/plan"
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
	owned     map[plan.RuleKey]bool
	loaded    bool
	getID     uint64
	putID     uint64
	plan      plan.TunnelPlan
	conflicts map[string]bool
	held      map[plan.RuleKey]bool // routes waiting for their Access app
	// conn is the connector health read (tunnel_connectors.go).
	conn connectorRead
}

// NewTunnelProps builds the actor that owns tunnel name's ingress.
func NewTunnelProps(name string, ref TunnelRef, cfg PlannerConfig) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		a := &tunnelActor{reconciler: newReconciler(cfg, "tunnel:"+name), name: name, ref: ref, conflicts: map[string]bool{}}
		a.status.Kind = plan.TunnelRule
		a.counts = func() (int, int) { return len(a.desired), len(a.owned) }
		return a
	}, withMiddleware(cfg.Logger))
}

func (a *tunnelActor) log() *slog.Logger {
	return a.cfg.Logger.With("actor", "tunnel", "tunnel", a.name)
}

func (a *tunnelActor) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(messages.ResyncNow); ok {
		// A resync reads the connectors too (common handles the rest).
		a.readConnectors(ctx)
	}
	if a.common(ctx, a.loaded && a.have) {
		return
	}
	switch m := ctx.Message().(type) {
	case *actor.Started:
		ctx.Request(a.cfg.Store, storeLoadOwned{Kind: store.KindTunnelRule, Scope: a.ref.TunnelID})
		a.drift(ctx)
		a.after(ctx, "connectors", connectorsFirstRead, connectorsTick{})
	case connectorsTick:
		a.readConnectors(ctx)
	case storeOwnedLoaded:
		if m.Err != nil {
			panic(m.Err) // the supervisor retries with backoff
		}
		a.owned = map[plan.RuleKey]bool{}
		for _, o := range m.Objects {
			host, path, _ := strings.Cut(o.Key, " ")
			a.owned[plan.RuleKey{Hostname: host, Path: path}] = true
		}
		a.loaded = true
		if a.have && worthReconciling(a.settled, len(a.desired)) {
			a.request(ctx, 0)
		}
	case messages.DesiredState:
		t := m.Tunnels[a.name]
		same := a.have && a.settled == m.Settled && sameRules(a.desired, t.Rules)
		a.observe(m.Version, m.Settled, !same)
		if same {
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
		if a.onConnectorsResponse(ctx, m) {
			return
		}
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
	a.plan = plan.Tunnel(live, a.desired, a.owned, pol)
	a.reportConflicts(ctx, a.plan.Conflicts)
	a.reportHeld(a.plan.Held)
	if !a.plan.Changed {
		a.recordOwned(ctx, a.plan.Owned)
		a.end(ctx, nil)
		return
	}
	if a.cfg.DryRun {
		a.log().Info("dry run: would write the tunnel configuration", "changes", changeStrings(a.plan.Changes))
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
	recordChanges(ctx, a.cfg, a.log(), a.plan.Changes, "tunnel "+a.name+": routes", func(c plan.Change) string {
		return "tunnel " + a.name + ": route " + c.Name + " " + string(c.Action)
	})
	a.end(ctx, nil)
}

// recordOwned brings the store's owned set in line with keys.
func (a *tunnelActor) recordOwned(ctx actor.Context, keys []plan.RuleKey) {
	next := map[plan.RuleKey]bool{}
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

func (a *tunnelActor) reportConflicts(ctx actor.Context, conflicts []plan.Conflict) {
	a.status.Conflicts = conflicts
	reportNew(ctx, a.cfg, a.log(), a.conflicts, conflicts)
}

// reportHeld logs each route newly held back until its Access application
// exists (once per route while it stays held).
func (a *tunnelActor) reportHeld(keys []plan.RuleKey) {
	next := make(map[plan.RuleKey]bool, len(keys))
	for _, k := range keys {
		next[k] = true
		if !a.held[k] {
			a.log().Info("route held back until its Access application exists, so it is never published unprotected", "hostname", k.Hostname, "path", k.Path)
		}
	}
	a.held = next
}

func sameRules(a, b []messages.DesiredRule) bool {
	return slices.EqualFunc(a, b, func(x, y messages.DesiredRule) bool {
		return x.Hostname == y.Hostname && x.Path == y.Path && x.Service == y.Service && string(x.OriginRequest) == string(y.OriginRequest) && x.Held == y.Held
	})
}
