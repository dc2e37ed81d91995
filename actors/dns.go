package actors

import (
	"cmp"
	"fmt"
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
	// CredentialFor picks the credential of a hostname whose record names
	// none (by zone patterns, else the default).
	CredentialFor func(hostname string) string
	CommentLimit  int
	BatchSize     int
}

// dnsActor assigns desired records to zones and runs one zone actor per
// zone in use (and per zone that still holds records Labelgate owns, so
// those can be cleaned up). Zone lists come from each credential's
// cloudflare actor, refreshed every Interval and when a hostname matches no
// known zone.
type dnsActor struct {
	timers
	cfg      DNSConfig
	zones    map[string][]cfapi.Zone // by credential; nil until listed
	asked    map[uint64]string       // zone-list request id → credential
	seq      uint64
	lastAsk  time.Time
	desired  *messages.DesiredState
	children map[string]*actor.PID // by credential + "/" + zone id
	ownedIn  map[string]bool       // zone ids holding owned records
	storeOK  bool
	noZone   map[string]bool          // the lines of unplaced records already reported
	unplaced []plan.Conflict          // records no zone of their credential contains
	statuses map[string]PlannerStatus // by zone planner name
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
		a.zones, a.asked, a.children, a.noZone = map[string][]cfapi.Zone{}, map[uint64]string{}, map[string]*actor.PID{}, map[string]bool{}
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
	case ResyncNow:
		for _, pid := range a.children {
			ctx.Send(pid, m)
		}
		a.listZones(ctx)
	case PlannerStatus:
		a.statuses[m.Planner] = m
	case QueryPlannerStatus:
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
	type target struct {
		cred string
		zone cfapi.Zone
	}
	groups := map[string][]messages.DesiredRecord{}
	targets := map[string]target{}
	missing := map[string]plan.Conflict{}
	for _, r := range a.desired.Records {
		cred := r.Credential
		if cred == "" {
			cred = a.cfg.CredentialFor(r.Name)
		}
		zones, ok := a.zones[cred]
		if !ok {
			missing[r.Name] = plan.Conflict{Kind: plan.Unplaced, Object: plan.DNSRecord, Hostname: r.Name, Name: r.Name, Reason: fmt.Sprintf("credential %q is not configured", cred)}
			continue
		}
		z, ok := cfapi.ZoneFor(zones, r.Name)
		if !ok {
			missing[r.Name] = plan.Conflict{Kind: plan.Unplaced, Object: plan.DNSRecord, Hostname: r.Name, Name: r.Name, Reason: fmt.Sprintf("no zone visible to credential %q contains this hostname", cred)}
			continue
		}
		key := cred + "/" + z.ID
		groups[key] = append(groups[key], r)
		targets[key] = target{cred, z}
	}
	// Zones that hold owned records but no desired ones get an empty list,
	// so what is no longer wanted there is cleaned up.
	for cred, zones := range a.zones {
		for _, z := range zones {
			key := cred + "/" + z.ID
			if _, ok := targets[key]; !ok && (a.ownedIn[z.ID] || a.children[key] != nil) {
				targets[key] = target{cred, z}
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(targets)) {
		t := targets[key]
		pid := a.children[key]
		if pid == nil {
			props := NewZoneProps(ZoneConfig{PlannerConfig: a.zonePlanner(t.cred), Zone: t.zone, CommentLimit: a.cfg.CommentLimit, BatchSize: a.cfg.BatchSize})
			var err error
			pid, err = ctx.SpawnNamed(props, "zone-"+t.zone.Name)
			if err != nil {
				a.cfg.Logger.Error("starting a zone actor failed", "zone", t.zone.Name, "err", err)
				continue
			}
			a.children[key] = pid
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

func (a *dnsActor) zonePlanner(cred string) PlannerConfig {
	pc := a.cfg.PlannerConfig
	pc.Cloudflare = a.cfg.Credentials[cred]
	return pc
}
