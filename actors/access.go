package actors

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/messages"
	"github.com/labelgate/labelgate/plan"
	"github.com/labelgate/labelgate/store"
)

// AccessConfig configures the access actor.
type AccessConfig struct {
	PlannerConfig
	AccountID string
}

// accessActor owns Labelgate's Access applications and reusable policies
// in one account. A reconcile lists both, plans, then runs the plan one
// call at a time in dependency order: policies before the apps that use
// them, apps deleted before their policies.
type accessActor struct {
	reconciler
	ac       AccessConfig
	desired  []messages.DesiredApp
	settled  bool
	have     bool
	apps     map[string]bool // owned app ids
	policies map[string]bool // owned policy ids
	loaded   int             // store loads answered (2 when ready)

	liveApps     []cfapi.AccessApp
	livePolicies []cfapi.AccessPolicy
	listApps     uint64
	listPolicies uint64
	gotApps      bool
	gotPolicies  bool

	plan      plan.AccessPlan
	steps     []accessStep
	stepID    uint64
	failed    error
	conflicts map[string]bool

	// protected are the domains that have one of Labelgate's apps in
	// Cloudflare now, as far as this actor knows; the registry (registry,
	// the sender of the desired states) holds back the other protected
	// hostnames' new routes.
	protected map[string]bool
	registry  *actor.PID
}

type accessStep struct {
	op      cfOp
	change  plan.Change
	policy  string          // for app creates/updates: the policy name to resolve
	appData cfapi.AccessApp // the app to write; for deletes, the object's id
}

// word is how the step's object is called in log lines.
func (s accessStep) word() string {
	if s.change.Object == plan.AccessApp {
		return "app"
	}
	return "policy"
}

// NewAccessProps builds the access actor.
func NewAccessProps(ac AccessConfig) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		a := &accessActor{reconciler: newReconciler(ac.PlannerConfig, "access"), ac: ac, conflicts: map[string]bool{}}
		a.status.Kind = plan.AccessApp
		a.counts = func() (int, int) { return len(a.desired), len(a.apps) }
		return a
	}, withMiddleware(ac.Logger))
}

func (a *accessActor) Receive(ctx actor.Context) {
	log := a.cfg.Logger.With("actor", "access")
	if a.common(ctx, a.ready()) {
		return
	}
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.apps, a.policies = map[string]bool{}, map[string]bool{}
		ctx.Request(a.cfg.Store, storeLoadOwned{Kind: store.KindAccessApp, Scope: a.ac.AccountID})
		ctx.Request(a.cfg.Store, storeLoadOwned{Kind: store.KindAccessPolicy, Scope: a.ac.AccountID})
		a.drift(ctx)
	case storeOwnedLoaded:
		if m.Err != nil {
			panic(m.Err)
		}
		for _, o := range m.Objects {
			if m.Kind == store.KindAccessApp {
				a.apps[o.CFID] = true
			} else {
				a.policies[o.CFID] = true
			}
		}
		a.loaded++
		if a.ready() && worthReconciling(a.settled, len(a.desired)) {
			a.request(ctx, 0)
		}
	case messages.DesiredState:
		if sender := ctx.Sender(); sender != nil {
			a.registry = sender
			ctx.Respond(a.protectedMsg())
		}
		same := a.have && a.settled == m.Settled && sameApps(a.desired, m.Apps)
		a.observe(m.Version, m.Settled, !same)
		if same {
			return
		}
		a.desired, a.settled, a.have = m.Apps, m.Settled, true
		if a.loaded == 2 && worthReconciling(a.settled, len(a.desired)) {
			a.request(ctx, a.cfg.Debounce)
		}
	case reconcileNow:
		if a.ready() && a.begin() {
			a.gotApps, a.gotPolicies, a.failed = false, false, nil
			a.listApps = a.ask(ctx, prioAccess, a.ac.AccountID, opListApps{})
			a.listPolicies = a.ask(ctx, prioAccess, a.ac.AccountID, opListPolicies{})
		}
	case cfResponse:
		switch m.ID {
		case a.listApps, a.listPolicies:
			a.onList(ctx, m)
		case a.stepID:
			a.onStep(ctx, m)
		default:
			log.Debug("late Cloudflare answer ignored", "id", m.ID)
		}
	}
}

func (a *accessActor) ready() bool { return a.loaded == 2 && a.have }

func (a *accessActor) onList(ctx actor.Context, m cfResponse) {
	log := a.cfg.Logger.With("actor", "access")
	if m.Err != nil {
		if a.failed == nil {
			log.Error("listing Access objects failed; the plan is aborted and retried", "err", m.Err)
			a.failed = fmt.Errorf("listing Access objects: %w", m.Err)
			// The other list may still answer; end only once both did.
		}
	} else if m.ID == a.listApps {
		a.liveApps = m.Result.([]cfapi.AccessApp)
	} else {
		a.livePolicies = m.Result.([]cfapi.AccessPolicy)
	}
	if m.ID == a.listApps {
		a.gotApps = true
	} else {
		a.gotPolicies = true
	}
	if !a.gotApps || !a.gotPolicies {
		return
	}
	if a.failed != nil {
		a.end(ctx, nil)
		return
	}
	pol := a.mode()
	pol.Settled = a.settled
	a.plan = plan.Access(a.liveApps, a.livePolicies, a.desired, a.apps, a.policies, pol)
	reportNew(ctx, a.cfg, log, a.conflicts, a.plan.Conflicts)
	a.status.Conflicts = a.plan.Conflicts
	a.recordAdopted(ctx)
	a.protectFromList(ctx)
	if a.plan.Empty() {
		a.end(ctx, nil)
		return
	}
	if a.cfg.DryRun {
		log.Info("dry run: would change Access", "policies_create", len(a.plan.PolicyCreates), "policies_update", len(a.plan.PolicyUpdates),
			"apps_create", len(a.plan.AppCreates), "apps_update", len(a.plan.AppUpdates), "apps_delete", len(a.plan.AppDeletes), "policies_delete", len(a.plan.PolicyDeletes))
		a.end(ctx, nil)
		return
	}
	// One step per change, in the order of plan.AccessPlan.Changes.
	changes := a.plan.Changes()
	a.steps = nil
	for _, p := range a.plan.PolicyCreates {
		a.steps = append(a.steps, accessStep{op: opCreatePolicy{Policy: p}})
	}
	for _, p := range a.plan.PolicyUpdates {
		a.steps = append(a.steps, accessStep{op: opUpdatePolicy{Policy: p}})
	}
	for _, c := range slices.Concat(a.plan.AppCreates, a.plan.AppUpdates) {
		a.steps = append(a.steps, accessStep{policy: c.PolicyName, appData: c.App})
	}
	for _, app := range a.plan.AppDeletes {
		a.steps = append(a.steps, accessStep{op: opDeleteApp{ID: app.ID}, appData: app})
	}
	for _, p := range a.plan.PolicyDeletes {
		a.steps = append(a.steps, accessStep{op: opDeletePolicy{ID: p.ID}, appData: cfapi.AccessApp{ID: p.ID}})
	}
	for i := range a.steps {
		a.steps[i].change = changes[i]
	}
	a.nextStep(ctx)
}

// nextStep runs the next step of the plan; app steps get their policy id
// now, since a policy created earlier in this plan has one only now.
func (a *accessActor) nextStep(ctx actor.Context) {
	if len(a.steps) == 0 {
		a.end(ctx, nil)
		return
	}
	s := &a.steps[0]
	if s.change.Object == plan.AccessApp && s.change.Action != plan.Delete {
		id := a.plan.PolicyIDs[s.policy]
		if id == "" {
			a.cfg.Logger.Error("an Access app's policy has no id; skipping the app this round", "app", s.change.Name, "policy", s.policy)
			a.steps = a.steps[1:]
			a.failed = fmt.Errorf("the policy %q of Access app %q has no id", s.policy, s.change.Name)
			a.nextStep(ctx)
			return
		}
		app := s.appData
		app.Policies = []cfapi.AppPolicy{{ID: id, Precedence: 1}}
		if s.change.Action == plan.Create {
			s.op = opCreateApp{App: app}
		} else {
			s.op = opUpdateApp{App: app}
		}
	}
	a.stepID = a.ask(ctx, prioAccess, a.ac.AccountID, s.op)
}

func (a *accessActor) onStep(ctx actor.Context, m cfResponse) {
	log := a.cfg.Logger.With("actor", "access")
	s := a.steps[0]
	a.steps = a.steps[1:]
	if m.Err != nil {
		if s.change.Action == plan.Delete && cfapi.Gone(m.Err) {
			m.Err = nil // already gone: the outcome we wanted
		} else {
			// A create is not retried blindly: the next reconcile lists
			// first and adopts what this call may have created.
			log.Error(fmt.Sprintf("Access %s %s failed", s.word(), s.change.Action), "name", s.change.Name, "hostname", s.change.Hostname, "err", m.Err)
			a.failed = fmt.Errorf("the Access %s %q: %w", s.word(), s.change.Name, m.Err)
			if s.change.Object == plan.AccessPolicy && s.change.Action != plan.Delete {
				// Apps that need this policy cannot be written this round.
				a.steps = slices.DeleteFunc(a.steps, func(x accessStep) bool { return x.policy == s.change.Name })
			}
			a.nextStep(ctx)
			return
		}
	}
	var puts []store.OwnedObject
	var dels []store.OwnedKey
	switch r := m.Result.(type) {
	case cfapi.AccessPolicy:
		a.plan.PolicyIDs[r.Name] = r.ID
		a.policies[r.ID] = true
		puts = append(puts, store.OwnedObject{OwnedKey: store.OwnedKey{Kind: store.KindAccessPolicy, Scope: a.ac.AccountID, Key: r.Name + " " + r.ID}, CFID: r.ID, Data: mustJSON(r.Name)})
	case cfapi.AccessApp:
		a.apps[r.ID] = true
		a.protect(ctx, r.Domain, true)
		puts = append(puts, store.OwnedObject{OwnedKey: store.OwnedKey{Kind: store.KindAccessApp, Scope: a.ac.AccountID, Key: r.Domain + " " + r.ID}, CFID: r.ID, Hostname: r.Domain})
	case nil: // a delete
		if s.change.Object == plan.AccessApp {
			delete(a.apps, s.appData.ID)
			a.protect(ctx, s.appData.Domain, false)
			dels = append(dels, store.OwnedKey{Kind: store.KindAccessApp, Scope: a.ac.AccountID, Key: s.appData.Domain + " " + s.appData.ID})
		} else {
			delete(a.policies, s.appData.ID)
			dels = append(dels, store.OwnedKey{Kind: store.KindAccessPolicy, Scope: a.ac.AccountID, Key: s.change.Name + " " + s.appData.ID})
		}
	}
	ctx.Send(a.cfg.Store, storeApplyOwned{Puts: puts, Deletes: dels})
	e := changeEvent(time.Now(), s.change, fmt.Sprintf("Access %s %q %s", s.word(), s.change.Name, s.change.Action))
	log.Info(e.Message, "event", e.Kind, "hostname", e.Hostname, "source", e.Source, "container", e.Container)
	ctx.Send(a.cfg.Store, storeAppendEvents{Events: []store.Event{e}})
	a.nextStep(ctx)
}

// end overrides the reconciler's to fold in step failures.
func (a *accessActor) end(ctx actor.Context, err error) {
	if err == nil {
		err = a.failed
	}
	a.reconciler.end(ctx, err)
	a.failed = nil
}

func (a *accessActor) recordAdopted(ctx actor.Context) {
	var puts []store.OwnedObject
	for _, p := range a.plan.AdoptedPolicies {
		a.policies[p.ID] = true
		puts = append(puts, store.OwnedObject{OwnedKey: store.OwnedKey{Kind: store.KindAccessPolicy, Scope: a.ac.AccountID, Key: p.Name + " " + p.ID}, CFID: p.ID, Data: mustJSON(p.Name)})
	}
	for _, app := range a.plan.AdoptedApps {
		a.apps[app.ID] = true
		puts = append(puts, store.OwnedObject{OwnedKey: store.OwnedKey{Kind: store.KindAccessApp, Scope: a.ac.AccountID, Key: app.Domain + " " + app.ID}, CFID: app.ID, Hostname: app.Domain})
	}
	if len(puts) > 0 {
		ctx.Send(a.cfg.Store, storeApplyOwned{Puts: puts})
	}
}

// protectFromList sets the protected domains from a fresh list: the
// domains of the apps Labelgate owns (adopted ones included). In a dry run
// the apps the plan would create count too, so the plan shows their routes.
func (a *accessActor) protectFromList(ctx actor.Context) {
	next := map[string]bool{}
	for _, app := range a.liveApps {
		if a.apps[app.ID] {
			next[strings.ToLower(app.Domain)] = true
		}
	}
	if a.cfg.DryRun {
		for _, c := range a.plan.AppCreates {
			next[strings.ToLower(c.App.Domain)] = true
		}
	}
	if maps.Equal(next, a.protected) {
		return
	}
	a.protected = next
	a.sendProtected(ctx)
}

// protect records one app written or deleted.
func (a *accessActor) protect(ctx actor.Context, domain string, on bool) {
	domain = strings.ToLower(domain)
	if domain == "" || a.protected[domain] == on {
		return
	}
	if a.protected == nil {
		a.protected = map[string]bool{}
	}
	if on {
		a.protected[domain] = true
	} else {
		delete(a.protected, domain)
	}
	a.sendProtected(ctx)
}

func (a *accessActor) sendProtected(ctx actor.Context) {
	if a.registry != nil {
		ctx.Send(a.registry, a.protectedMsg())
	}
}

func (a *accessActor) protectedMsg() messages.AccessProtected {
	return messages.AccessProtected{Domains: slices.Sorted(maps.Keys(a.protected))}
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func sameApps(a, b []messages.DesiredApp) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
