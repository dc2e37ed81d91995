package surface

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labelgate/labelgate/actors"
	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/dockerwatch"
	"github.com/labelgate/labelgate/messages"
	"github.com/labelgate/labelgate/plan"
	"github.com/labelgate/labelgate/store"
	"github.com/labelgate/labelgate/web"
)

// Surface implements web.Backend over a running main. It runs on the HTTP
// server's goroutines and talks to the actors with request/reply (never
// from inside an actor); reads of Cloudflare go through the cloudflare
// actors, at background priority, and are cached briefly so a dashboard
// left open does not spend the API budget.
type Surface struct {
	m       *actors.Main
	cfg     config.Config
	version string
	started time.Time
	// rules are the credential rules main's actors follow; accessErr says
	// why Access has no credential (never, after config.Load).
	rules     config.CredentialRules
	accessErr error

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	at  time.Time
	val any
	err error
}

// liveTTL is how long a read of Cloudflare is reused.
const liveTTL = 30 * time.Second

var _ web.Backend = (*Surface)(nil)

// New builds the web backend of a running main.
func New(m *actors.Main, cfg config.Config, version string) *Surface {
	rules, err := cfg.CredentialRules()
	return &Surface{m: m, cfg: cfg, version: version, started: time.Now(), cache: map[string]cached{}, rules: rules, accessErr: err}
}

// once caches an expensive read for liveTTL.
func (s *Surface) once(key string, fn func() (any, error)) (any, error) {
	s.mu.Lock()
	c, ok := s.cache[key]
	s.mu.Unlock()
	if ok && time.Since(c.at) < liveTTL {
		return c.val, c.err
	}
	v, err := fn()
	s.mu.Lock()
	s.cache[key] = cached{at: time.Now(), val: v, err: err}
	s.mu.Unlock()
	return v, err
}

func (s *Surface) registry(ctx context.Context) (actors.RegistryReport, error) {
	res, err := s.m.Ask(ctx, actors.ChildRegistry, messages.QueryRegistry{})
	if err != nil {
		return actors.RegistryReport{}, err
	}
	return res.(actors.RegistryReport), nil
}

// Overview implements web.Backend.
func (s *Surface) Overview(ctx context.Context) (web.Overview, error) {
	rep, err := s.registry(ctx)
	if err != nil {
		return web.Overview{}, err
	}
	ov := web.Overview{
		Version: s.version, Mode: string(s.cfg.Mode), Started: s.started, Settled: rep.Settled,
		DryRun: s.cfg.DryRun, Policy: string(s.cfg.Sync.Policy), Hostnames: map[string]int{},
		LastSync: map[string]time.Time{},
	}
	for _, h := range rep.Hostnames {
		ov.Hostnames[string(h.State)]++
		if len(h.Queued) > 0 {
			ov.Conflicts++
		}
		if h.State == messages.HostLeaving {
			ov.PendingDeletes++
		}
	}
	for _, r := range rep.LabelErrors {
		if r.Container == "" { // a source's closing entry counts what is not listed
			ov.LabelErrors += r.Dropped
		} else {
			ov.LabelErrors += len(r.Errors)
		}
	}
	for _, st := range s.m.PlannerStatuses(ctx) {
		if !st.LastSync.IsZero() {
			ov.LastSync[st.Planner] = st.LastSync
		}
		ov.Conflicts += len(st.Conflicts)
		if st.LastError != "" {
			ov.RecentErrors = append(ov.RecentErrors, web.ErrorView{At: st.LastErrorAt, Where: st.Planner, Message: st.LastError})
		}
		if name, ok := strings.CutPrefix(st.Planner, "tunnel:"); ok {
			th := tunnelHealth(name, st.Connectors)
			th.Routes = st.Desired
			ov.Tunnels = append(ov.Tunnels, th)
			if th.NoConnector() {
				ov.TunnelsWithoutConnector++
			}
		}
	}
	slices.SortFunc(ov.RecentErrors, func(a, b web.ErrorView) int { return b.At.Compare(a.At) })
	agents, _ := s.Agents(ctx)
	for _, a := range agents {
		ov.AgentsTotal++
		switch {
		case a.Connected:
			ov.AgentsOnline++
		case a.State == string(messages.AgentStatusStale):
			ov.AgentsStale++
		}
	}
	ov.Health = s.Health(ctx)
	return ov, nil
}

// Hostnames implements web.Backend.
func (s *Surface) Hostnames(ctx context.Context) ([]web.HostnameView, error) {
	rep, err := s.registry(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]web.HostnameView, 0, len(rep.Hostnames))
	for _, h := range rep.Hostnames {
		out = append(out, web.HostnameView{HostnameState: h})
	}
	return out, nil
}

// Tunnels implements web.Backend.
func (s *Surface) Tunnels(ctx context.Context) ([]web.TunnelView, error) {
	tunnels := s.cfg.ResolvedTunnels()
	var out []web.TunnelView
	for _, name := range slices.Sorted(maps.Keys(tunnels)) {
		t := tunnels[name]
		tv := web.TunnelView{Name: name, ID: t.TunnelID, Credential: t.Credential}
		if res, err := s.m.Ask(ctx, actors.ChildTunnel(name), messages.QueryPlannerStatus{}); err == nil {
			st := res.(actors.PlannerStatus)
			tv.LastSync = st.LastSync
			for _, c := range st.Conflicts {
				tv.Conflicts = append(tv.Conflicts, c.String())
			}
			c := st.Connectors
			tv.Status, tv.ActiveConnections, tv.Routes = c.Status, c.Active(), st.Desired
			tv.ConnectorsReadAt, tv.ConnectorsError = c.ReadAt, c.LastError
			for _, cn := range c.Connectors {
				for _, conn := range cn.Connections {
					tv.Connections = append(tv.Connections, web.ConnectionView{
						ConnectorID: conn.ConnectorID, ClientVersion: cmp.Or(conn.Version, cn.Version), Colo: conn.Colo,
						OriginIP: conn.OriginIP, OpenedAt: conn.OpenedAt, PendingReconnect: conn.PendingReconnect,
					})
				}
			}
		}
		live, err := s.once("tunnel:"+name, func() (any, error) {
			return s.m.Cloudflare(t.Credential).TunnelConfig(ctx, t.AccountID, t.TunnelID)
		})
		if err != nil {
			tv.Error = err.Error()
			out = append(out, tv)
			continue
		}
		objs, err := s.m.Owned(ctx, store.KindTunnelRule, t.TunnelID)
		if err != nil {
			return nil, err
		}
		owned := map[string]bool{}
		for _, o := range objs {
			owned[o.Key] = true
		}
		cfg := live.(cfapi.TunnelConfig)
		tv.Version = cfg.Version
		for i, r := range cfg.Ingress {
			tv.Rules = append(tv.Rules, web.RuleView{
				Hostname: r.Hostname, Path: r.Path, Service: r.Service,
				Owned:    owned[strings.ToLower(r.Hostname)+" "+r.Path],
				CatchAll: i == len(cfg.Ingress)-1 && r.IsCatchAll(),
			})
		}
		out = append(out, tv)
	}
	return out, nil
}

// zones lists the zones of every credential (each list cached) and assigns
// each zone the credential that reconciles it, exactly as the DNS actor
// does (assignZones).
func (s *Surface) zones(ctx context.Context) (all map[string][]cfapi.Zone, owners map[string]plan.ZoneOwner, lost map[string]string, err error) {
	all = map[string][]cfapi.Zone{}
	var errs []error
	for _, cred := range s.rules.Names() {
		v, err := s.once("zones:"+cred, func() (any, error) {
			return s.m.Cloudflare(cred).Zones(ctx)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("listing the zones of credential %s: %w", cred, err))
			continue
		}
		all[cred] = v.([]cfapi.Zone)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, nil, err
	}
	owners, lost, _ = plan.AssignZones(all, s.rules.Zone)
	return all, owners, lost, nil
}

// recordZone places a desired record in its zone as the DNS actor does.
func (s *Surface) recordZone(r messages.DesiredRecord, all map[string][]cfapi.Zone, owners map[string]plan.ZoneOwner, lost map[string]string) (plan.ZoneOwner, bool) {
	o, problem := plan.PlaceRecord(r.Name, s.rules.Record(r.Name, r.Credential, r.Tunnel), all, owners, lost)
	return o, problem == ""
}

// zonesInUse are the zones holding owned records or desired ones, by id,
// each with the credential that reconciles it, and the desired records of
// each.
func (s *Surface) zonesInUse(ctx context.Context) (map[string]plan.ZoneOwner, map[string][]messages.DesiredRecord, error) {
	all, owners, lost, err := s.zones(ctx)
	if err != nil {
		return nil, nil, err
	}
	objs, err := s.m.Owned(ctx, store.KindDNSRecord, "")
	if err != nil {
		return nil, nil, err
	}
	rep, err := s.registry(ctx)
	if err != nil {
		return nil, nil, err
	}
	use := map[string]plan.ZoneOwner{}
	for _, o := range objs {
		if z, ok := owners[o.Scope]; ok {
			use[o.Scope] = z
		}
	}
	want := map[string][]messages.DesiredRecord{}
	for _, r := range rep.Desired.Records {
		if z, ok := s.recordZone(r, all, owners, lost); ok {
			use[z.Zone.ID] = z
			want[z.Zone.ID] = append(want[z.Zone.ID], r)
		}
	}
	return use, want, nil
}

// DNSRecords implements web.Backend.
func (s *Surface) DNSRecords(ctx context.Context) ([]web.RecordView, error) {
	zones, _, err := s.zonesInUse(ctx)
	if err != nil {
		return nil, err
	}
	var out []web.RecordView
	for _, id := range slices.Sorted(maps.Keys(zones)) {
		z, cred := zones[id].Zone, zones[id].Credential
		v, err := s.once("records:"+id+"@"+cred, func() (any, error) {
			return s.m.Cloudflare(cred).Records(ctx, id)
		})
		if err != nil {
			return nil, fmt.Errorf("listing the records of %s: %w", z.Name, err)
		}
		objs, err := s.m.Owned(ctx, store.KindDNSRecord, id)
		if err != nil {
			return nil, err
		}
		ids := map[string]bool{}
		for _, o := range objs {
			ids[o.CFID] = true
		}
		for _, r := range v.([]cfapi.Record) {
			out = append(out, web.RecordView{Zone: z.Name, ID: r.ID, Name: r.Name, Type: r.Type, Content: r.Content,
				Proxied: r.Proxied, TTL: r.TTL, Comment: r.Comment, Owned: ids[r.ID] || plan.HasMarker(r.Comment), Credential: cred})
		}
	}
	return out, nil
}

// Access implements web.Backend: the Access account's objects, read with
// the credential the access actor uses (config.CredentialRules).
func (s *Surface) Access(ctx context.Context) (web.AccessView, error) {
	if s.accessErr != nil {
		return web.AccessView{Error: s.accessErr.Error()}, nil
	}
	account, cred := s.rules.Access.AccountID, s.rules.Access.Credential
	if account == "" {
		return web.AccessView{Error: "no Cloudflare account id is configured"}, nil
	}
	apps, policies, err := s.liveAccess(ctx, account, cred)
	if err != nil {
		return web.AccessView{Error: err.Error(), AccountID: account, Credential: cred}, nil
	}
	ownedApps, ownedPolicies, err := s.ownedAccess(ctx, account)
	if err != nil {
		return web.AccessView{}, err
	}
	names := map[string]string{}
	av := web.AccessView{AccountID: account, Credential: cred}
	for _, p := range policies {
		names[p.ID] = p.Name
		av.Policies = append(av.Policies, web.PolicyView{ID: p.ID, Name: p.Name, Decision: p.Decision, Owned: ownedPolicies[p.ID]})
	}
	for _, a := range apps {
		var pols []string
		for _, p := range a.Policies {
			pols = append(pols, cmp.Or(names[p.ID], p.ID))
		}
		av.Apps = append(av.Apps, web.AppView{ID: a.ID, Name: a.Name, Domain: a.Domain, Policies: pols, Owned: ownedApps[a.ID]})
	}
	return av, nil
}

func (s *Surface) liveAccess(ctx context.Context, account, cred string) ([]cfapi.AccessApp, []cfapi.AccessPolicy, error) {
	a, err := s.once("apps", func() (any, error) { return s.m.Cloudflare(cred).AccessApps(ctx, account) })
	if err != nil {
		return nil, nil, err
	}
	p, err := s.once("policies", func() (any, error) { return s.m.Cloudflare(cred).AccessPolicies(ctx, account) })
	if err != nil {
		return nil, nil, err
	}
	return a.([]cfapi.AccessApp), p.([]cfapi.AccessPolicy), nil
}

func (s *Surface) ownedAccess(ctx context.Context, account string) (apps, policies map[string]bool, err error) {
	apps, policies = map[string]bool{}, map[string]bool{}
	objs, err := s.m.Owned(ctx, store.KindAccessApp, account)
	if err != nil {
		return nil, nil, err
	}
	for _, o := range objs {
		apps[o.CFID] = true
	}
	objs, err = s.m.Owned(ctx, store.KindAccessPolicy, account)
	if err != nil {
		return nil, nil, err
	}
	for _, o := range objs {
		policies[o.CFID] = true
	}
	return apps, policies, nil
}

// Agents implements web.Backend.
func (s *Surface) Agents(ctx context.Context) ([]web.AgentView, error) {
	if !s.m.Has(actors.ChildAgents) {
		return nil, nil
	}
	res, err := s.m.Ask(ctx, actors.ChildAgents, messages.QueryAgents{})
	if err != nil {
		return nil, err
	}
	rep, err := s.registry(ctx)
	if err != nil {
		return nil, err
	}
	claims := map[string]int{}
	routes := map[string]map[string]int{} // source → tunnel → routes
	for _, h := range rep.Hostnames {
		if h.State == messages.HostRefused {
			continue
		}
		claims[h.Winner.Source]++
		if h.Tunnel != "" && slices.Contains(h.Kinds, "tunnel") {
			if routes[h.Winner.Source] == nil {
				routes[h.Winner.Source] = map[string]int{}
			}
			routes[h.Winner.Source][h.Tunnel]++
		}
	}
	connectors := map[string]actors.TunnelConnectors{}
	if len(routes) > 0 { // the tunnel actors are asked only when an agent's routes use them
		for _, st := range s.m.PlannerStatuses(ctx) {
			if name, ok := strings.CutPrefix(st.Planner, "tunnel:"); ok {
				connectors[name] = st.Connectors
			}
		}
	}
	var out []web.AgentView
	for _, a := range res.([]actors.AgentState) {
		mode := "outbound"
		if a.Info.Inbound {
			mode = "inbound"
		}
		out = append(out, web.AgentView{
			Name: a.Name, Connected: a.State == messages.AgentStatusConnected, State: string(a.State), LastSeen: a.LastSeen, StaleSince: a.StaleSince,
			Version: a.Version, Hostname: a.Hostname, DefaultTunnel: a.Info.DefaultTunnel, Announced: a.Announced,
			AllowedHostnames: a.Info.AllowedHostnames, AllowedZones: a.Info.AllowedZones, AllowedTunnels: a.Info.AllowedTunnels,
			Claims: claims[messages.AgentSource(a.Name)], Containers: a.Containers, Mode: mode, Remote: a.Remote,
			TLSMode: a.TLSMode, DockerConnected: a.Docker,
			Tunnels: agentTunnels(routes[messages.AgentSource(a.Name)], connectors),
		})
	}
	return out, nil
}

// tunnelHealth is a tunnel's connector health for the web views.
func tunnelHealth(name string, c actors.TunnelConnectors) web.TunnelHealth {
	return web.TunnelHealth{Name: name, Status: c.Status, ActiveConnections: c.Active(), ReadAt: c.ReadAt}
}

// agentTunnels lists the tunnels an agent's routes use (by name), each
// with how many of its routes and the tunnel's connector health.
func agentTunnels(routes map[string]int, connectors map[string]actors.TunnelConnectors) []web.TunnelHealth {
	var out []web.TunnelHealth
	for _, name := range slices.Sorted(maps.Keys(routes)) {
		th := tunnelHealth(name, connectors[name])
		th.Routes = routes[name]
		out = append(out, th)
	}
	return out
}

// Conflicts implements web.Backend.
func (s *Surface) Conflicts(ctx context.Context) ([]web.ConflictView, error) {
	rep, err := s.registry(ctx)
	if err != nil {
		return nil, err
	}
	var out []web.ConflictView
	for _, h := range rep.Hostnames {
		if len(h.Queued) > 0 {
			out = append(out, web.ConflictView{Hostname: h.Hostname, Kind: "claim", Winner: h.Winner, Queued: h.Queued,
				Message: fmt.Sprintf("%s/%s holds %s; %d other claimant(s) wait in line", h.Winner.Source, h.Winner.Container, h.Hostname, len(h.Queued))})
		}
	}
	for _, st := range s.m.PlannerStatuses(ctx) {
		for _, c := range st.Conflicts {
			out = append(out, web.ConflictView{Hostname: c.Hostname, Kind: string(c.Kind), Message: st.Planner + ": " + c.String()})
		}
	}
	return out, nil
}

// LabelErrors implements web.Backend.
func (s *Surface) LabelErrors(ctx context.Context) ([]web.LabelErrorView, error) {
	rep, err := s.registry(ctx)
	if err != nil {
		return nil, err
	}
	var out []web.LabelErrorView
	for _, r := range rep.LabelErrors {
		for _, e := range r.Errors {
			out = append(out, web.LabelErrorView{Source: r.Source, Container: r.Container, Kind: r.Kind, Key: e.Key, Message: e.Message})
		}
	}
	return out, nil
}

// PendingDeletes implements web.Backend.
func (s *Surface) PendingDeletes(ctx context.Context) ([]web.PendingDelete, error) {
	rep, err := s.registry(ctx)
	if err != nil {
		return nil, err
	}
	var out []web.PendingDelete
	for _, h := range rep.Hostnames {
		if h.State == messages.HostLeaving {
			out = append(out, web.PendingDelete{Hostname: h.Hostname, Due: h.Due, Winner: h.Winner, Kinds: h.Kinds})
		}
	}
	return out, nil
}

// Events implements web.Backend.
func (s *Surface) Events(ctx context.Context, q store.EventQuery) ([]store.Event, error) {
	res, err := s.m.Ask(ctx, actors.ChildStore, actors.StoreQueryEvents{Query: q})
	if err != nil {
		return nil, err
	}
	p := res.(actors.StoreEventsPage)
	return p.Events, p.Err
}

// Plan implements web.Backend: the same pure planners the actors run,
// over fresh reads, writing nothing.
func (s *Surface) Plan(ctx context.Context) (web.PlanPreview, error) {
	rep, err := s.registry(ctx)
	if err != nil {
		return web.PlanPreview{}, err
	}
	pol := plan.Policy{Mode: string(s.cfg.Sync.Policy), Settled: rep.Settled}
	pv := web.PlanPreview{At: time.Now()}
	tunnels := s.cfg.ResolvedTunnels()
	for _, name := range slices.Sorted(maps.Keys(tunnels)) {
		t := tunnels[name]
		pp := web.PlannerPlan{Planner: "tunnel:" + name, Credential: t.Credential}
		live, err := s.m.Cloudflare(t.Credential).TunnelConfig(ctx, t.AccountID, t.TunnelID)
		if err != nil {
			pp.Error = err.Error()
			pv.Planner = append(pv.Planner, pp)
			continue
		}
		objs, err := s.m.Owned(ctx, store.KindTunnelRule, t.TunnelID)
		if err != nil {
			return pv, err
		}
		owned := map[plan.RuleKey]bool{}
		for _, o := range objs {
			host, path, _ := strings.Cut(o.Key, " ")
			owned[plan.RuleKey{Hostname: host, Path: path}] = true
		}
		tp := plan.Tunnel(live, rep.Desired.Tunnels[name].Rules, owned, pol)
		preview(&pp, tp.Changes, tp.Conflicts)
		pv.Planner = append(pv.Planner, pp)
	}
	zones, wanted, err := s.zonesInUse(ctx)
	if err != nil {
		pv.Planner = append(pv.Planner, web.PlannerPlan{Planner: "dns", Error: err.Error()})
	}
	for _, id := range slices.Sorted(maps.Keys(zones)) {
		z, cred := zones[id].Zone, zones[id].Credential
		pp := web.PlannerPlan{Planner: "zone:" + z.Name, Credential: cred}
		live, err := s.m.Cloudflare(cred).Records(ctx, id)
		if err != nil {
			pp.Error = err.Error()
			pv.Planner = append(pv.Planner, pp)
			continue
		}
		objs, err := s.m.Owned(ctx, store.KindDNSRecord, id)
		if err != nil {
			return pv, err
		}
		ids := map[string]bool{}
		for _, o := range objs {
			ids[o.CFID] = true
		}
		zp := plan.Zone(live, wanted[id], ids, s.cfg.Cloudflare.CommentLimit, pol)
		preview(&pp, slices.Concat(zp.Creates, zp.Updates, zp.Deletes), slices.Concat(zp.Conflicts, zp.Orphans))
		pv.Planner = append(pv.Planner, pp)
	}
	if s.accessErr != nil {
		pv.Planner = append(pv.Planner, web.PlannerPlan{Planner: "access", Error: s.accessErr.Error()})
	} else if account, cred := s.rules.Access.AccountID, s.rules.Access.Credential; account != "" {
		pp := web.PlannerPlan{Planner: "access", Credential: cred}
		apps, err1 := s.m.Cloudflare(cred).AccessApps(ctx, account)
		policies, err2 := s.m.Cloudflare(cred).AccessPolicies(ctx, account)
		if err := errors.Join(err1, err2); err != nil {
			pp.Error = err.Error()
		} else {
			ownedApps, ownedPolicies, err := s.ownedAccess(ctx, account)
			if err != nil {
				return pv, err
			}
			ap := plan.Access(apps, policies, rep.Desired.Apps, ownedApps, ownedPolicies, pol)
			preview(&pp, ap.Changes(), ap.Conflicts)
		}
		pv.Planner = append(pv.Planner, pp)
	}
	return pv, nil
}

// Health implements web.Backend.
func (s *Surface) Health(ctx context.Context) web.Health {
	var h web.Health
	if res, err := s.m.Ask(ctx, actors.ChildDockerWatch, messages.QueryDockerStatus{}); err != nil {
		h.DockerError = err.Error()
	} else {
		st := res.(dockerwatch.Status)
		h.DockerConnected = st.Connected
		switch {
		case st.Swarm:
			h.DockerSwarm = "Swarm services followed: " + st.SwarmWhy
		case st.SwarmWhy != "":
			h.DockerSwarm = "Swarm services not followed: " + st.SwarmWhy
		}
		if !st.Connected && st.LastError != nil {
			h.DockerError = st.LastError.Error()
		}
	}
	// Every credential's token is verified; the check passes when all are
	// active, and the error names each one that is not.
	var tokenErrs []string
	for _, cred := range s.rules.Names() {
		v, err := s.once("verify:"+cred, func() (any, error) {
			return s.m.Cloudflare(cred).VerifyToken(ctx, s.cfg.Cloudflare.AccountID)
		})
		switch {
		case err != nil:
			tokenErrs = append(tokenErrs, "credential "+cred+": "+err.Error())
		case v.(cfapi.TokenStatus).Status != "active":
			tokenErrs = append(tokenErrs, "credential "+cred+": the token's status is "+v.(cfapi.TokenStatus).Status)
		}
	}
	h.TokenVerified = len(tokenErrs) == 0 && len(s.rules.Names()) > 0
	h.TokenError = strings.Join(tokenErrs, "; ")
	if res, err := s.m.Ask(ctx, actors.ChildStore, actors.StoreCheck{}); err != nil {
		h.StoreError = err.Error()
	} else if e := res.(actors.StoreChecked).Err; e != nil {
		h.StoreError = e.Error()
	} else {
		h.StoreWritable = true
	}
	if rep, err := s.registry(ctx); err == nil {
		h.Settled = rep.Settled
	}
	if s.m.Has(actors.ChildListener) {
		h.AgentListener = true
		if res, err := s.m.Ask(ctx, actors.ChildListener, messages.QueryListenerHealth{}); err != nil {
			h.AgentListenerError = err.Error()
		} else if e := res.(messages.ListenerHealth).Err; e != nil {
			h.AgentListenerError = e.Error()
		}
	}
	return h
}

// Resync implements web.Backend.
func (s *Surface) Resync(ctx context.Context) error {
	s.m.Resync()
	s.mu.Lock()
	clear(s.cache)
	s.mu.Unlock()
	return nil
}

// CancelDelete implements web.Backend.
func (s *Surface) CancelDelete(ctx context.Context, hostname string) error {
	res, err := s.m.Ask(ctx, actors.ChildRegistry, messages.CancelDelete{Hostname: hostname})
	if err != nil {
		return err
	}
	if e, ok := res.(error); ok && e != nil {
		if errors.Is(e, actors.ErrNotLeaving) {
			return fmt.Errorf("%w: %s is not waiting to be deleted", web.ErrNotFound, hostname)
		}
		return e
	}
	return nil
}

// Decommission implements web.Backend.
func (s *Surface) Decommission(ctx context.Context, agent string) error {
	return s.agentAction(ctx, messages.DecommissionAgent{Name: agent})
}

// EnableAgent implements web.Backend.
func (s *Surface) EnableAgent(ctx context.Context, agent string) error {
	return s.agentAction(ctx, messages.EnableAgent{Name: agent})
}

// agentAction asks the agents directory to act on one agent; an agent it
// does not know is web.ErrNotFound.
func (s *Surface) agentAction(ctx context.Context, msg any) error {
	res, err := s.m.Ask(ctx, actors.ChildAgents, msg)
	if err != nil {
		return err
	}
	if e, ok := res.(error); ok && e != nil {
		if errors.Is(e, actors.ErrUnknownAgent) {
			return fmt.Errorf("%w: %v", web.ErrNotFound, e)
		}
		return e
	}
	return nil
}

// ObjectCounts sums, per kind, the objects desired and the objects Labelgate
// owns in Cloudflare, over every planner (for the desired/applied metrics).
func (s *Surface) ObjectCounts(ctx context.Context) map[string][2]int {
	out := map[string][2]int{}
	for _, st := range s.m.PlannerStatuses(ctx) {
		if st.Kind == "" {
			continue
		}
		c := out[string(st.Kind)]
		c[0] += st.Desired
		c[1] += st.Applied
		out[string(st.Kind)] = c
	}
	return out
}

// preview fills a planner's preview from its typed plan: one line per change,
// by action, and one per conflict.
func preview(pp *web.PlannerPlan, changes []plan.Change, conflicts []plan.Conflict) {
	for _, c := range changes {
		line := c.String()
		switch c.Object {
		case plan.AccessPolicy:
			line = "policy " + c.Name
		case plan.AccessApp:
			line = "app " + c.Name + " for " + c.Hostname
		}
		switch c.Action {
		case plan.Create:
			pp.Creates = append(pp.Creates, line)
		case plan.Update:
			pp.Updates = append(pp.Updates, line)
		case plan.Delete:
			pp.Deletes = append(pp.Deletes, line)
		}
	}
	for _, c := range conflicts {
		pp.Conflicts = append(pp.Conflicts, c.String())
	}
}
