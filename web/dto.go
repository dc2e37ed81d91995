package web

import (
	"time"

	"github.com/labelgate/labelgate/messages"
	"github.com/labelgate/labelgate/store"
)

// The JSON shapes of the API. backend.go's view types carry no tags, so
// every response converts into these snake_case structs; slices are never
// null and zero times are left out.

type ownerJSON struct {
	Source    string `json:"source"`
	Container string `json:"container"`
	Service   string `json:"service,omitempty"`
}

func toOwner(o messages.Owner) ownerJSON {
	return ownerJSON{Source: o.Source, Container: o.Container, Service: o.Service}
}

func toOwners(os []messages.Owner) []ownerJSON {
	out := make([]ownerJSON, 0, len(os))
	for _, o := range os {
		out = append(out, toOwner(o))
	}
	return out
}

type overviewJSON struct {
	Version        string               `json:"version"`
	Mode           string               `json:"mode"`
	Started        time.Time            `json:"started,omitzero"`
	Settled        bool                 `json:"settled"`
	DryRun         bool                 `json:"dry_run"`
	Policy         string               `json:"policy"`
	Hostnames      map[string]int       `json:"hostnames"`
	Conflicts      int                  `json:"conflicts"`
	LabelErrors    int                  `json:"label_errors"`
	PendingDeletes int                  `json:"pending_deletes"`
	Agents         agentCountsJSON      `json:"agents"`
	LastSync       map[string]time.Time `json:"last_sync"`
	RecentErrors   []errorJSON          `json:"recent_errors"`
	Health         healthJSON           `json:"health"`
	ActionsEnabled bool                 `json:"actions_enabled"`
	// TunnelsWithoutConnector counts tunnels that carry routes and have
	// no connector.
	TunnelsWithoutConnector int `json:"tunnels_without_connector"`
}

type agentCountsJSON struct {
	Total  int `json:"total"`
	Online int `json:"online"`
	Stale  int `json:"stale"`
}

type errorJSON struct {
	At      time.Time `json:"at,omitzero"`
	Where   string    `json:"where"`
	Message string    `json:"message"`
}

func toOverview(o Overview, version string, actions bool) overviewJSON {
	if o.Version == "" {
		o.Version = version
	}
	out := overviewJSON{
		Version:        o.Version,
		Mode:           o.Mode,
		Started:        o.Started,
		Settled:        o.Settled,
		DryRun:         o.DryRun,
		Policy:         o.Policy,
		Hostnames:      map[string]int{},
		Conflicts:      o.Conflicts,
		LabelErrors:    o.LabelErrors,
		PendingDeletes: o.PendingDeletes,
		Agents:         agentCountsJSON{Total: o.AgentsTotal, Online: o.AgentsOnline, Stale: o.AgentsStale},
		LastSync:       map[string]time.Time{},
		RecentErrors:   make([]errorJSON, 0, len(o.RecentErrors)),
		Health:         toHealth(o.Health),
		ActionsEnabled: actions,

		TunnelsWithoutConnector: o.TunnelsWithoutConnector,
	}
	for k, v := range o.Hostnames {
		out.Hostnames[k] = v
	}
	for k, v := range o.LastSync {
		out.LastSync[k] = v
	}
	for _, e := range o.RecentErrors {
		out.RecentErrors = append(out.RecentErrors, errorJSON(e))
	}
	return out
}

type checkJSON struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Detail is what the check found besides pass/fail (the Docker
	// check: whether Swarm services are followed, and why).
	Detail string `json:"detail,omitempty"`
}

type healthJSON struct {
	Ready  bool                 `json:"ready"`
	Checks map[string]checkJSON `json:"checks"`
}

func toHealth(h Health) healthJSON {
	out := healthJSON{
		Ready: h.Ready(),
		Checks: map[string]checkJSON{
			"docker":           {OK: h.DockerConnected, Error: h.DockerError, Detail: h.DockerSwarm},
			"cloudflare_token": {OK: h.TokenVerified, Error: h.TokenError},
			"store":            {OK: h.StoreWritable, Error: h.StoreError},
			"settled":          {OK: h.Settled, Error: settledError(h.Settled)},
		},
	}
	if h.AgentListener {
		out.Checks["agent_listener"] = checkJSON{OK: h.AgentListenerError == "", Error: h.AgentListenerError}
	}
	return out
}

func settledError(settled bool) string {
	if settled {
		return ""
	}
	return "waiting for every known source to report (or the settle timeout)"
}

type hostnameJSON struct {
	Hostname string      `json:"hostname"`
	Path     string      `json:"path,omitempty"`
	State    string      `json:"state"`
	Kinds    []string    `json:"kinds"`
	Tunnel   string      `json:"tunnel,omitempty"`
	Zone     string      `json:"zone,omitempty"`
	Winner   ownerJSON   `json:"winner"`
	Queued   []ownerJSON `json:"queued"`
	Due      time.Time   `json:"due,omitzero"`
	Error    string      `json:"error,omitempty"`
}

func toHostname(h HostnameView) hostnameJSON {
	return hostnameJSON{
		Hostname: h.Hostname,
		Path:     h.Path,
		State:    string(h.State),
		Kinds:    nonNil(h.Kinds),
		Tunnel:   h.Tunnel,
		Zone:     h.Zone,
		Winner:   toOwner(h.Winner),
		Queued:   toOwners(h.Queued),
		Due:      h.Due,
		Error:    h.Error,
	}
}

type tunnelJSON struct {
	Name      string     `json:"name"`
	ID        string     `json:"id"`
	Version   int        `json:"version"`
	Rules     []ruleJSON `json:"rules"`
	Error     string     `json:"error,omitempty"`
	LastSync  time.Time  `json:"last_sync,omitzero"`
	Conflicts []string   `json:"conflicts"`
	// Credential names the Cloudflare credential that manages the tunnel.
	Credential string `json:"credential,omitempty"`
	// Connector health: Cloudflare's status ("" until read), the
	// connections of the tunnel's connectors, how many serve traffic, the
	// routes labelgate wants on it, and the last read.
	Status            string           `json:"status,omitempty"`
	Connections       []connectionJSON `json:"connections"`
	ActiveConnections int              `json:"active_connections"`
	Routes            int              `json:"routes"`
	NoConnector       bool             `json:"no_connector"`
	ConnectorsReadAt  time.Time        `json:"connectors_read_at,omitzero"`
	ConnectorsError   string           `json:"connectors_error,omitempty"`
}

type connectionJSON struct {
	ConnectorID      string    `json:"connector_id"`
	ClientVersion    string    `json:"client_version"`
	Colo             string    `json:"colo"`
	OriginIP         string    `json:"origin_ip"`
	OpenedAt         time.Time `json:"opened_at,omitzero"`
	PendingReconnect bool      `json:"pending_reconnect"`
}

// tunnelHealthJSON is a tunnel's connector health in an agent's view.
type tunnelHealthJSON struct {
	Name              string    `json:"name"`
	Status            string    `json:"status,omitempty"`
	ActiveConnections int       `json:"active_connections"`
	HasConnector      bool      `json:"has_connector"`
	Routes            int       `json:"routes"`
	ReadAt            time.Time `json:"read_at,omitzero"`
}

func toTunnelHealth(t TunnelHealth) tunnelHealthJSON {
	return tunnelHealthJSON{Name: t.Name, Status: t.Status, ActiveConnections: t.ActiveConnections,
		HasConnector: t.HasConnector(), Routes: t.Routes, ReadAt: t.ReadAt}
}

type ruleJSON struct {
	Hostname string `json:"hostname,omitempty"`
	Path     string `json:"path,omitempty"`
	Service  string `json:"service"`
	// Owned is true for rules labelgate wrote, false for foreign ones.
	Owned    bool `json:"owned"`
	CatchAll bool `json:"catch_all"`
}

func toTunnel(t TunnelView) tunnelJSON {
	out := tunnelJSON{
		Name: t.Name, ID: t.ID, Version: t.Version, Error: t.Error, LastSync: t.LastSync, Credential: t.Credential,
		Rules:     make([]ruleJSON, 0, len(t.Rules)),
		Conflicts: nonNil(t.Conflicts),
		Status:    t.Status, Connections: mapSlice(t.Connections, func(c ConnectionView) connectionJSON { return connectionJSON(c) }),
		ActiveConnections: t.ActiveConnections, Routes: t.Routes, NoConnector: t.Health().NoConnector(),
		ConnectorsReadAt: t.ConnectorsReadAt, ConnectorsError: t.ConnectorsError,
	}
	for _, r := range t.Rules {
		out.Rules = append(out.Rules, ruleJSON(r))
	}
	return out
}

type recordJSON struct {
	Zone    string `json:"zone"`
	ID      string `json:"id"`
	Name    string `json:"name"`
	Type    string `json:"type"`
	Content string `json:"content"`
	Proxied bool   `json:"proxied"`
	TTL     int    `json:"ttl"`
	Comment string `json:"comment,omitempty"`
	Owned   bool   `json:"owned"`
	// Credential names the Cloudflare credential of the record's zone.
	Credential string `json:"credential,omitempty"`
}

func toRecord(r RecordView) recordJSON {
	return recordJSON(r)
}

type accessJSON struct {
	Apps     []appJSON    `json:"apps"`
	Policies []policyJSON `json:"policies"`
	Error    string       `json:"error,omitempty"`
	// AccountID and Credential say where the Access objects live and which
	// Cloudflare credential manages them.
	AccountID  string `json:"account_id,omitempty"`
	Credential string `json:"credential,omitempty"`
}

type appJSON struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Domain   string   `json:"domain"`
	Policies []string `json:"policies"`
	Owned    bool     `json:"owned"`
}

type policyJSON struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Decision string `json:"decision"`
	Owned    bool   `json:"owned"`
}

func toAccess(a AccessView) accessJSON {
	out := accessJSON{
		Apps:      make([]appJSON, 0, len(a.Apps)),
		Policies:  make([]policyJSON, 0, len(a.Policies)),
		Error:     a.Error,
		AccountID: a.AccountID, Credential: a.Credential,
	}
	for _, app := range a.Apps {
		out.Apps = append(out.Apps, appJSON{ID: app.ID, Name: app.Name, Domain: app.Domain, Policies: nonNil(app.Policies), Owned: app.Owned})
	}
	for _, p := range a.Policies {
		out.Policies = append(out.Policies, policyJSON(p))
	}
	return out
}

type agentJSON struct {
	Name            string    `json:"name"`
	Connected       bool      `json:"connected"`
	State           string    `json:"state"`
	LastSeen        time.Time `json:"last_seen,omitzero"`
	StaleSince      time.Time `json:"stale_since,omitzero"`
	Version         string    `json:"version,omitempty"`
	Hostname        string    `json:"hostname,omitempty"`
	DefaultTunnel   string    `json:"default_tunnel,omitempty"`
	AnnouncedTunnel string    `json:"announced_tunnel,omitempty"`
	Scope           scopeJSON `json:"scope"`
	Claims          int       `json:"claims"`
	Containers      int       `json:"containers"`
	Mode            string    `json:"mode,omitempty"`
	Remote          string    `json:"remote,omitempty"`
	TLSMode         string    `json:"tls_mode,omitempty"`
	DockerConnected bool      `json:"docker_connected"`
	// Tunnels are the tunnels the agent's routes use, with their
	// connector health.
	Tunnels []tunnelHealthJSON `json:"tunnels"`
}

// scopeJSON is an agent's scope; empty lists mean "anything".
type scopeJSON struct {
	AllowedHostnames []string `json:"allowed_hostnames"`
	AllowedZones     []string `json:"allowed_zones"`
	AllowedTunnels   []string `json:"allowed_tunnels"`
}

func toAgent(a AgentView) agentJSON {
	return agentJSON{
		Name: a.Name, Connected: a.Connected, State: a.State,
		LastSeen: a.LastSeen, StaleSince: a.StaleSince,
		Version: a.Version, Hostname: a.Hostname,
		DefaultTunnel: a.DefaultTunnel, AnnouncedTunnel: a.Announced,
		Scope:  scopeJSON{AllowedHostnames: nonNil(a.AllowedHostnames), AllowedZones: nonNil(a.AllowedZones), AllowedTunnels: nonNil(a.AllowedTunnels)},
		Claims: a.Claims, Containers: a.Containers,
		Mode: a.Mode, Remote: a.Remote, TLSMode: a.TLSMode, DockerConnected: a.DockerConnected,
		Tunnels: mapSlice(a.Tunnels, toTunnelHealth),
	}
}

type conflictJSON struct {
	Hostname string      `json:"hostname"`
	Kind     string      `json:"kind"`
	Winner   ownerJSON   `json:"winner"`
	Queued   []ownerJSON `json:"queued"`
	Message  string      `json:"message"`
}

func toConflict(c ConflictView) conflictJSON {
	return conflictJSON{Hostname: c.Hostname, Kind: c.Kind, Winner: toOwner(c.Winner), Queued: toOwners(c.Queued), Message: c.Message}
}

type labelErrorJSON struct {
	Source    string `json:"source"`
	Container string `json:"container"`
	Kind      string `json:"kind,omitempty"` // "service" for a Swarm service
	Key       string `json:"key"`
	Message   string `json:"message"`
}

func toLabelError(e LabelErrorView) labelErrorJSON {
	return labelErrorJSON(e)
}

type pendingJSON struct {
	Hostname string    `json:"hostname"`
	Due      time.Time `json:"due,omitzero"`
	Winner   ownerJSON `json:"winner"`
	Kinds    []string  `json:"kinds"`
}

func toPending(p PendingDelete) pendingJSON {
	return pendingJSON{Hostname: p.Hostname, Due: p.Due, Winner: toOwner(p.Winner), Kinds: nonNil(p.Kinds)}
}

type eventJSON struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Level     string    `json:"level"`
	Kind      string    `json:"kind"`
	Hostname  string    `json:"hostname,omitempty"`
	Source    string    `json:"source,omitempty"`
	Container string    `json:"container,omitempty"`
	Message   string    `json:"message"`
}

func toEvent(e store.Event) eventJSON {
	return eventJSON(e)
}

type planJSON struct {
	At       time.Time         `json:"at,omitzero"`
	Planners []plannerPlanJSON `json:"planners"`
}

type plannerPlanJSON struct {
	Planner   string   `json:"planner"`
	Creates   []string `json:"creates"`
	Updates   []string `json:"updates"`
	Deletes   []string `json:"deletes"`
	Conflicts []string `json:"conflicts"`
	Error     string   `json:"error,omitempty"`
	// Credential names the Cloudflare credential the planner works with.
	Credential string `json:"credential,omitempty"`
}

func toPlan(p PlanPreview) planJSON {
	out := planJSON{At: p.At, Planners: make([]plannerPlanJSON, 0, len(p.Planner))}
	for _, pp := range p.Planner {
		out.Planners = append(out.Planners, plannerPlanJSON{
			Planner: pp.Planner, Creates: nonNil(pp.Creates), Updates: nonNil(pp.Updates),
			Deletes: nonNil(pp.Deletes), Conflicts: nonNil(pp.Conflicts), Error: pp.Error, Credential: pp.Credential,
		})
	}
	return out
}

// mapSlice converts a slice, never returning nil.
func mapSlice[T, U any](in []T, f func(T) U) []U {
	out := make([]U, 0, len(in))
	for _, v := range in {
		out = append(out, f(v))
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
