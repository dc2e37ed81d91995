package web

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/labelgate/labelgate/messages"
	"github.com/labelgate/labelgate/store"
)

// testNow is the fixed clock of the handler tests.
var testNow = time.Date(2025, 11, 26, 12, 0, 0, 0, time.UTC)

// fakeBackend is an in-memory Backend whose state a test sets and changes.
// It is safe for concurrent use (the browser test changes it while the
// server reads it).
type fakeBackend struct {
	mu sync.Mutex

	overview    Overview
	hostnames   []HostnameView
	tunnels     []TunnelView
	records     []RecordView
	access      AccessView
	agents      []AgentView
	conflicts   []ConflictView
	labelErrors []LabelErrorView
	pending     []PendingDelete
	events      []store.Event // newest first, as the store returns them
	plan        PlanPreview
	health      Health

	// readErr, when set, is returned by every read.
	readErr error
	// blockReads makes every read wait for its context to end.
	blockReads bool

	eventQueries   []store.EventQuery
	resyncs        int
	cancelled      []string
	decommissioned []string
	enabled        []string
}

var _ Backend = (*fakeBackend)(nil)

// newFakeBackend returns a backend with a small, varied main: two agents
// (one stale), hostnames in every state, a conflict, a label error.
func newFakeBackend() *fakeBackend { return newFakeBackendAt(testNow) }

// newFakeBackendAt is newFakeBackend with its times relative to now.
func newFakeBackendAt(now time.Time) *fakeBackend {
	web1 := messages.Owner{Source: "local", Container: "web-1", Service: "web"}
	app2 := messages.Owner{Source: "agent-b", Container: "app", Service: "app"}
	gone := messages.Owner{Source: "local", Container: "old", Service: "old"}
	return &fakeBackend{
		overview: Overview{
			Version: "v1.2.3", Mode: "main", Started: now.Add(-2 * time.Hour),
			Settled: true, Policy: "sync",
			Hostnames:      map[string]int{"active": 2, "leaving": 1, "frozen": 1},
			Conflicts:      1,
			LabelErrors:    1,
			PendingDeletes: 1,
			AgentsTotal:    2, AgentsOnline: 1, AgentsStale: 1,
			LastSync: map[string]time.Time{
				"tunnel:default":   now.Add(-30 * time.Second),
				"zone:example.com": now.Add(-45 * time.Second),
			},
			RecentErrors: []ErrorView{{At: now.Add(-5 * time.Minute), Where: "zone example.com", Message: "HTTP 429: rate limited"}},
			Health:       Health{DockerConnected: true, TokenVerified: true, StoreWritable: true, Settled: true},
			Tunnels: []TunnelHealth{
				{Name: "default", Status: "healthy", ActiveConnections: 2, Routes: 2, ReadAt: now.Add(-20 * time.Second)},
				{Name: "edge", Status: "down", Routes: 1, ReadAt: now.Add(-20 * time.Second)},
				{Name: "spare"},
			},
			TunnelsWithoutConnector: 1,
		},
		hostnames: []HostnameView{
			{HostnameState: messages.HostnameState{Hostname: "app.example.com", State: "active", Winner: web1,
				Queued: []messages.Owner{app2}, Kinds: []string{"tunnel", "dns"}, Tunnel: "default"}, Zone: "example.com"},
			{HostnameState: messages.HostnameState{Hostname: "api.example.com", State: "active", Winner: web1,
				Kinds: []string{"dns"}}, Zone: "example.com"},
			{HostnameState: messages.HostnameState{Hostname: "old.example.com", State: "leaving", Winner: gone,
				Due: now.Add(4 * time.Minute), Kinds: []string{"tunnel"}, Tunnel: "default"}, Zone: "example.com"},
			{HostnameState: messages.HostnameState{Hostname: "far.example.com", State: "frozen", Winner: app2,
				Kinds: []string{"tunnel"}, Tunnel: "edge"}, Zone: "example.com"},
		},
		tunnels: []TunnelView{{
			Name: "default", ID: "2f4c1e7a-0000-4000-8000-000000000001", Version: 7, LastSync: now.Add(-30 * time.Second), Credential: "default",
			Rules: []RuleView{
				{Hostname: "app.example.com", Service: "http://web-1:8080", Owned: true},
				{Hostname: "legacy.example.com", Path: "/v1", Service: "http://10.0.0.5:80"},
				{Service: "http_status:404", CatchAll: true},
			},
			Status: "healthy", ActiveConnections: 2, Routes: 2, ConnectorsReadAt: now.Add(-20 * time.Second),
			Connections: []ConnectionView{
				{ConnectorID: "0c6f1b2a-0000-4000-8000-00000000000a", ClientVersion: "2025.11.1", Colo: "ams01", OriginIP: "203.0.113.7", OpenedAt: now.Add(-26 * time.Hour)},
				{ConnectorID: "0c6f1b2a-0000-4000-8000-00000000000a", ClientVersion: "2025.11.1", Colo: "fra02", OriginIP: "203.0.113.7", OpenedAt: now.Add(-26 * time.Hour)},
				{ConnectorID: "0c6f1b2a-0000-4000-8000-00000000000a", ClientVersion: "2025.11.1", Colo: "ams03", OriginIP: "203.0.113.7", OpenedAt: now.Add(-40 * time.Minute), PendingReconnect: true},
			},
		}, {
			Name: "edge", ID: "2f4c1e7a-0000-4000-8000-000000000002", Error: "reading the tunnel configuration: HTTP 403", Credential: "lab",
			Status: "down", Routes: 1, ConnectorsReadAt: now.Add(-20 * time.Second),
			ConnectorsError: "reading the tunnel: HTTP 500",
		}},
		records: []RecordView{
			{Zone: "example.com", ID: "rec1", Name: "app.example.com", Type: "CNAME",
				Content: "2f4c1e7a-0000-4000-8000-000000000001.cfargotunnel.com", Proxied: true, TTL: 1,
				Comment: "[labelgate]", Owned: true, Credential: "default"},
			{Zone: "example.com", ID: "rec2", Name: "mail.example.com", Type: "MX", Content: "mx.example.net", TTL: 3600, Credential: "default"},
		},
		access: AccessView{
			Apps:      []AppView{{ID: "app1", Name: "labelgate app.example.com", Domain: "app.example.com", Policies: []string{"labelgate staff"}, Owned: true}},
			Policies:  []PolicyView{{ID: "pol1", Name: "labelgate staff", Decision: "allow", Owned: true}, {ID: "pol2", Name: "Admins", Decision: "allow"}},
			AccountID: "0123456789abcdef0123456789abcdef", Credential: "default",
		},
		agents: []AgentView{
			{Name: "agent-a", Connected: true, State: "connected", LastSeen: now.Add(-10 * time.Second),
				Version: "v1.2.3", Hostname: "host-a", Announced: "default", Claims: 0, Containers: 3,
				Mode: "outbound", Remote: "10.0.0.7:41234", TLSMode: "verified", DockerConnected: true,
				Tunnels: []TunnelHealth{{Name: "default", Status: "healthy", ActiveConnections: 2, Routes: 3, ReadAt: now.Add(-20 * time.Second)}}},
			{Name: "agent-b", State: "stale", LastSeen: now.Add(-3 * time.Hour), StaleSince: now.Add(-1 * time.Hour),
				Version: "v1.2.0", Hostname: "host-b", DefaultTunnel: "edge",
				AllowedHostnames: []string{"*.lab.example.com"}, AllowedZones: []string{"example.com"}, AllowedTunnels: []string{"edge"},
				Claims: 1, Containers: 2, Mode: "inbound", Remote: "host-b:8082", TLSMode: "self-signed+session-proof",
				Tunnels: []TunnelHealth{{Name: "edge", Status: "down", Routes: 1, ReadAt: now.Add(-20 * time.Second)}}},
		},
		conflicts: []ConflictView{{Hostname: "app.example.com", Kind: "claim", Winner: web1,
			Queued: []messages.Owner{app2}, Message: "agent-b/app also claims app.example.com; it waits for local/web-1"}},
		labelErrors: []LabelErrorView{{Source: "local", Container: "broken", Key: "labelgate.tunnel.web.service",
			Message: "labelgate.tunnel.web.service: \"ftp://x\" is not an http(s), tcp or unix URL"},
			{Source: "local", Container: "stack_api", Kind: "service", Key: "labelgate.tunnel.api.port",
				Message: "labelgate.tunnel.api.port: unknown property"}},
		pending: []PendingDelete{{Hostname: "old.example.com", Due: now.Add(4 * time.Minute), Winner: gone, Kinds: []string{"tunnel"}}},
		events: []store.Event{
			{ID: 3, At: now.Add(-1 * time.Minute), Level: store.LevelWarn, Kind: "conflict", Hostname: "app.example.com",
				Source: "agent-b", Container: "app", Message: "agent-b/app waits for local/web-1"},
			{ID: 2, At: now.Add(-2 * time.Minute), Level: store.LevelInfo, Kind: "leaving", Hostname: "old.example.com",
				Source: "local", Container: "old", Message: "old.example.com is deleted in 5m unless a claimant returns"},
			{ID: 1, At: now.Add(-3 * time.Minute), Level: store.LevelInfo, Kind: "created", Hostname: "app.example.com",
				Source: "local", Container: "web-1", Message: "tunnel route and CNAME created"},
		},
		plan: PlanPreview{At: now, Planner: []PlannerPlan{
			{Planner: "tunnel:default", Updates: []string{"app.example.com → http://web-1:8080"}, Credential: "default"},
			{Planner: "zone:example.com", Creates: []string{"CNAME api.example.com"}, Conflicts: []string{"mail.example.com: foreign MX record"}, Credential: "default"},
			{Planner: "access", Error: "listing Access applications: HTTP 500", Credential: "default"},
		}},
		health: Health{DockerConnected: true, DockerSwarm: "Swarm services not followed: the engine is not part of a swarm", TokenVerified: true, StoreWritable: true, Settled: true},
	}
}

func (f *fakeBackend) read(ctx context.Context) error {
	f.mu.Lock()
	block, err := f.blockReads, f.readErr
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

func (f *fakeBackend) set(change func(f *fakeBackend)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

func (f *fakeBackend) Overview(ctx context.Context) (Overview, error) {
	if err := f.read(ctx); err != nil {
		return Overview{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.overview, nil
}

func (f *fakeBackend) Hostnames(ctx context.Context) ([]HostnameView, error) {
	if err := f.read(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.hostnames), nil
}

func (f *fakeBackend) Tunnels(ctx context.Context) ([]TunnelView, error) {
	if err := f.read(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.tunnels), nil
}

func (f *fakeBackend) DNSRecords(ctx context.Context) ([]RecordView, error) {
	if err := f.read(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.records), nil
}

func (f *fakeBackend) Access(ctx context.Context) (AccessView, error) {
	if err := f.read(ctx); err != nil {
		return AccessView{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.access, nil
}

func (f *fakeBackend) Agents(ctx context.Context) ([]AgentView, error) {
	if err := f.read(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.agents), nil
}

func (f *fakeBackend) Conflicts(ctx context.Context) ([]ConflictView, error) {
	if err := f.read(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.conflicts), nil
}

func (f *fakeBackend) LabelErrors(ctx context.Context) ([]LabelErrorView, error) {
	if err := f.read(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.labelErrors), nil
}

func (f *fakeBackend) PendingDeletes(ctx context.Context) ([]PendingDelete, error) {
	if err := f.read(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.pending), nil
}

// Events pages like the store: newest first, before an id, by hostname.
func (f *fakeBackend) Events(ctx context.Context, q store.EventQuery) ([]store.Event, error) {
	if err := f.read(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.eventQueries = append(f.eventQueries, q)
	limit := q.Limit
	if limit <= 0 {
		limit = store.DefaultEventLimit
	}
	var out []store.Event
	for _, e := range f.events {
		if (q.BeforeID == 0 || e.ID < q.BeforeID) && (q.Hostname == "" || e.Hostname == q.Hostname) && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (f *fakeBackend) Plan(ctx context.Context) (PlanPreview, error) {
	if err := f.read(ctx); err != nil {
		return PlanPreview{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.plan, nil
}

func (f *fakeBackend) Health(ctx context.Context) Health {
	if err := f.read(ctx); err != nil {
		return Health{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.health
}

func (f *fakeBackend) Resync(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resyncs++
	return nil
}

func (f *fakeBackend) CancelDelete(ctx context.Context, hostname string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.pending, func(p PendingDelete) bool { return p.Hostname == hostname })
	if i < 0 {
		return ErrNotFound
	}
	f.pending = slices.Delete(f.pending, i, i+1)
	f.cancelled = append(f.cancelled, hostname)
	return nil
}

func (f *fakeBackend) Decommission(ctx context.Context, agent string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.agents, func(a AgentView) bool { return a.Name == agent })
	if i < 0 {
		return ErrNotFound
	}
	f.agents[i].State = "decommissioned"
	f.decommissioned = append(f.decommissioned, agent)
	return nil
}

// EnableAgent turns a decommissioned agent back into a disconnected one;
// any other known agent is left as it is.
func (f *fakeBackend) EnableAgent(ctx context.Context, agent string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.agents, func(a AgentView) bool { return a.Name == agent })
	if i < 0 {
		return ErrNotFound
	}
	if f.agents[i].State == "decommissioned" {
		f.agents[i].State = "disconnected"
	}
	f.enabled = append(f.enabled, agent)
	return nil
}
