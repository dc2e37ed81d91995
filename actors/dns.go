package actors

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/messages"
	"github.com/labelgate/labelgate/plan"
	"github.com/labelgate/labelgate/store"
)

// DNSConfig configures the DNS actor.
type DNSConfig struct {
	PlannerConfig
	// Credentials maps each API credential to its cloudflare actor.
	Credentials map[string]*actor.PID
	// RecordCredential picks the credential whose zones a record is looked
	// up in (config.CredentialRules.Record); "" when none applies.
	RecordCredential func(r messages.DesiredRecord) string
	// ZoneCredential picks the one credential that reconciles a zone the
	// given credentials see (config.CredentialRules.Zone).
	ZoneCredential func(zone string, visible []string) string
	CommentLimit   int
	BatchSize      int
}

// dnsActor assigns desired records to zones and runs one zone actor per
// zone in use (and per zone that still holds records Labelgate owns, so
// those can be cleaned up). Zone lists come from each credential's
// cloudflare actor, refreshed every Interval and when a hostname matches no
// known zone. A zone several credentials see is reconciled by one of them
// (plan.AssignZones), so no two actors ever write one zone.
type dnsActor struct {
	timers
	cfg      DNSConfig
	zones    map[string][]cfapi.Zone // by credential; nil until listed
	asked    map[uint64]string       // zone-list request id → credential
	seq      uint64
	lastAsk  time.Time
	desired  *messages.DesiredState
	children map[string]zoneChild // by zone id
	notes    map[string]bool      // zones shared by credentials, logged
	ownedIn  map[string]bool      // zone ids holding owned records
	storeOK  bool
	noZone   map[string]bool          // the lines of unplaced records already reported
	unplaced []plan.Conflict          // records no zone of their credential contains
	statuses map[string]PlannerStatus // by zone planner name
}

// zoneChild is a running zone actor and the credential it writes with.
type zoneChild struct {
	pid  *actor.PID
	cred string
}

type dnsRefresh struct{}

// NewDNSProps builds the DNS actor.
func NewDNSProps(cfg DNSConfig) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &dnsActor{cfg: cfg}
	}, withMiddleware(cfg.Logger),
		actor.WithSupervisor(DefaultBackoff(cfg.Logger)))
}

func (a *dnsActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.zones, a.asked, a.children, a.noZone = map[string][]cfapi.Zone{}, map[uint64]string{}, map[string]zoneChild{}, map[string]bool{}
		a.notes = map[string]bool{}
		a.statuses = map[string]PlannerStatus{}
		ctx.Request(a.cfg.Store, storeLoadOwned{Kind: store.KindDNSRecord})
		a.listZones(ctx)
		a.after(ctx, "zones", a.cfg.Interval, dnsRefresh{})
	case storeOwnedLoaded:
		if m.Err != nil {
			panic(m.Err)
		}
		a.ownedIn = map[string]bool{}
		for _, o := range m.Objects {
			a.ownedIn[o.Scope] = true
		}
		a.storeOK = true
		a.distribute(ctx)
	case dnsRefresh:
		// One schedule of zone lists: the periodic one, or a retry after a
		// failure in its place (never both, never one more per failure).
		a.listZones(ctx)
		a.after(ctx, "zones", a.cfg.Interval, dnsRefresh{})
	case cfResponse:
		cred, ok := a.asked[m.ID]
		if !ok {
			return
		}
		delete(a.asked, m.ID)
		if m.Err != nil {
			a.cfg.Logger.Error("listing zones failed; keeping the previous list and retrying", "credential", cred, "err", m.Err)
			a.sooner(ctx, "zones", retryDelay, dnsRefresh{})
			return
		}
		a.zones[cred] = m.Result.([]cfapi.Zone)
		a.distribute(ctx)
	case messages.DesiredState:
		a.desired = &m
		a.distribute(ctx)
	case messages.ResyncNow:
		for _, c := range a.children {
			ctx.Send(c.pid, m)
		}
		a.listZones(ctx)
	case PlannerStatus:
		a.statuses[m.Planner] = m
	case messages.QueryPlannerStatus:
		out := make([]PlannerStatus, 0, len(a.statuses)+1)
		for _, k := range slices.Sorted(maps.Keys(a.statuses)) {
			out = append(out, a.statuses[k])
		}
		if len(a.unplaced) > 0 {
			out = append(out, PlannerStatus{Planner: "dns", Conflicts: slices.Clone(a.unplaced)})
		}
		ctx.Respond(out)
	}
}

func (a *dnsActor) listZones(ctx actor.Context) {
	a.lastAsk = time.Now()
	for _, cred := range slices.Sorted(maps.Keys(a.cfg.Credentials)) {
		a.seq++
		a.asked[a.seq] = cred
		ctx.Request(a.cfg.Credentials[cred], cfRequest{ID: a.seq, Priority: prioBackground, Op: opListZones{}})
	}
}

// distribute sends every zone actor its records; it waits until every
// credential's zones and the store's owned set are known, so a zone is never
// told "nothing" for lack of information.
func (a *dnsActor) distribute(ctx actor.Context) {
	if a.desired == nil || !a.storeOK || len(a.zones) < len(a.cfg.Credentials) {
		return
	}
	owners, lost, notes := plan.AssignZones(a.zones, a.cfg.ZoneCredential)
	a.logNotes(notes)
	groups := map[string][]messages.DesiredRecord{}
	targets := map[string]plan.ZoneOwner{}
	missing := map[string]plan.Conflict{}
	for _, r := range a.desired.Records {
		o, problem := plan.PlaceRecord(r.Name, a.cfg.RecordCredential(r), a.zones, owners, lost)
		if problem != "" {
			missing[r.Name] = plan.Conflict{Kind: plan.Unplaced, Object: plan.DNSRecord, Hostname: r.Name, Name: r.Name, Reason: problem}
			continue
		}
		groups[o.Zone.ID] = append(groups[o.Zone.ID], r)
		targets[o.Zone.ID] = o
	}
	// Zones that hold owned records but no desired ones get an empty list,
	// so what is no longer wanted there is cleaned up.
	for id, o := range owners {
		if _, ok := targets[id]; !ok && (a.ownedIn[id] || a.children[id].pid != nil) {
			targets[id] = o
		}
	}
	for _, key := range slices.Sorted(maps.Keys(targets)) {
		t := targets[key]
		child := a.children[key]
		if child.pid != nil && child.cred != t.Credential {
			// The zone is now another credential's: its old actor stops and
			// a new one, under a new name, starts with the new credential.
			ctx.Stop(child.pid)
			delete(a.children, key)
			child = zoneChild{}
		}
		pid := child.pid
		if pid == nil {
			props := NewZoneProps(ZoneConfig{PlannerConfig: a.zonePlanner(t.Credential), Zone: t.Zone, CommentLimit: a.cfg.CommentLimit, BatchSize: a.cfg.BatchSize})
			var err error
			pid, err = ctx.SpawnNamed(props, ChildZone(t.Zone, t.Credential))
			if err != nil {
				a.cfg.Logger.Error("starting a zone actor failed", "zone", t.Zone.Name, "credential", t.Credential, "err", err)
				continue
			}
			a.children[key] = zoneChild{pid: pid, cred: t.Credential}
		}
		recs := groups[key]
		slices.SortFunc(recs, func(x, y messages.DesiredRecord) int {
			return cmp.Or(cmp.Compare(x.Name, y.Name), cmp.Compare(x.Type, y.Type), cmp.Compare(x.Content, y.Content))
		})
		ctx.Send(pid, zoneDesired{Records: recs, Settled: a.desired.Settled, Version: a.desired.Version})
	}
	var problems []plan.Conflict
	for _, name := range slices.Sorted(maps.Keys(missing)) {
		problems = append(problems, missing[name])
	}
	a.unplaced = problems
	reportNew(ctx, a.cfg.PlannerConfig, a.cfg.Logger.With("actor", "dns"), a.noZone, problems)
	if len(problems) > 0 && time.Since(a.lastAsk) > 5*time.Minute {
		a.listZones(ctx) // a zone may have been added to the account
	}
}

// logNotes logs, once, each zone that several credentials see and the one
// that reconciles it.
func (a *dnsActor) logNotes(notes []string) {
	now := map[string]bool{}
	for _, n := range notes {
		now[n] = true
		if !a.notes[n] {
			a.cfg.Logger.Info(n, "actor", "dns")
		}
	}
	a.notes = now
}

func (a *dnsActor) zonePlanner(cred string) PlannerConfig {
	pc := a.cfg.PlannerConfig
	pc.Cloudflare = a.cfg.Credentials[cred]
	return pc
}
