package web

import (
	"context"
	"errors"
	"time"

	"github.com/labelgate/labelgate/messages"
	"github.com/labelgate/labelgate/store"
)

// Backend is everything the HTTP surface reads from and asks of a running
// main. The actors package implements it over the actor tree; tests use a
// fake. Every method must answer within the context's deadline.
type Backend interface {
	Overview(ctx context.Context) (Overview, error)
	Hostnames(ctx context.Context) ([]HostnameView, error)
	// Tunnels reads each configured tunnel's live configuration from
	// Cloudflare (through the cloudflare actor's budget) and marks each rule.
	Tunnels(ctx context.Context) ([]TunnelView, error)
	// DNSRecords lists the records of the zones in use, each marked.
	DNSRecords(ctx context.Context) ([]RecordView, error)
	Access(ctx context.Context) (AccessView, error)
	Agents(ctx context.Context) ([]AgentView, error)
	Conflicts(ctx context.Context) ([]ConflictView, error)
	LabelErrors(ctx context.Context) ([]LabelErrorView, error)
	PendingDeletes(ctx context.Context) ([]PendingDelete, error)
	Events(ctx context.Context, q store.EventQuery) ([]store.Event, error)
	// Plan computes the changes a reconcile would make now, writing nothing.
	Plan(ctx context.Context) (PlanPreview, error)
	Health(ctx context.Context) Health

	// Resync asks every planner for a full reconcile now.
	Resync(ctx context.Context) error
	// CancelDelete keeps a hostname whose winner left: its grace is
	// cancelled and its objects are retained (as with cleanup=false).
	CancelDelete(ctx context.Context, hostname string) error
	// Decommission forgets an agent: its claims leave (with the grace) and
	// it is no longer waited for at start-up.
	Decommission(ctx context.Context, agent string) error
	// EnableAgent re-admits a decommissioned agent, which main refuses until
	// an operator does this (or the agent's token changes). Errors wrap
	// ErrNotFound for an agent main does not know; enabling an agent that
	// is not decommissioned is a no-op success, so a retried request does
	// no harm.
	EnableAgent(ctx context.Context, agent string) error
}

// ErrNotFound is returned by actions on a hostname or agent that does not
// exist; the API answers 404.
var ErrNotFound = errors.New("not found")

// Overview is the dashboard's front page.
type Overview struct {
	Version string
	Mode    string
	Started time.Time
	// Settled is false until every known source reported (or the settle
	// timeout passed); before it nothing is deleted.
	Settled bool
	DryRun  bool
	Policy  string
	// Hostnames counts hostnames by state (active, frozen, leaving,
	// retained, refused).
	Hostnames      map[string]int
	Conflicts      int
	LabelErrors    int
	PendingDeletes int
	AgentsTotal    int
	AgentsOnline   int
	AgentsStale    int
	// LastSync is when a reconcile last succeeded, per planner (tunnel:<name>,
	// zone:<name>, access).
	LastSync map[string]time.Time
	// RecentErrors are the last Cloudflare errors, newest first.
	RecentErrors []ErrorView
	Health       Health
	// Tunnels is each configured tunnel's connector health, as the tunnel
	// actors last read it (no Cloudflare call); Routes is how many routes
	// labelgate wants on it.
	Tunnels []TunnelHealth
	// TunnelsWithoutConnector counts the tunnels that carry routes and, as
	// last read, have no connector: their routes are unreachable.
	TunnelsWithoutConnector int
}

// TunnelHealth is a tunnel's connector health: Cloudflare's status and how
// many connections of its connectors (cloudflared) serve traffic.
type TunnelHealth struct {
	Name string
	// Status is healthy, degraded, down or inactive; "" until main read it.
	Status            string
	ActiveConnections int
	// Routes counts what the tunnel carries: every route (ingress rule)
	// in the Overview, the agent's hostnames routed through it in an
	// AgentView.
	Routes int
	// ReadAt is when main last read the connectors (zero: not yet).
	ReadAt time.Time
}

// Read reports whether main has read the tunnel's connectors.
func (t TunnelHealth) Read() bool { return !t.ReadAt.IsZero() }

// HasConnector reports whether, as last read, a connection serves traffic.
func (t TunnelHealth) HasConnector() bool { return t.ActiveConnections > 0 }

// NoConnector reports whether the tunnel carries routes and, as last read,
// has no connection to serve them.
func (t TunnelHealth) NoConnector() bool { return t.Routes > 0 && t.Read() && !t.HasConnector() }

// ErrorView is one recent error.
type ErrorView struct {
	At      time.Time
	Where   string // e.g. "zone example.com", "tunnel default"
	Message string
}

// HostnameView is one hostname as the registry sees it.
type HostnameView struct {
	messages.HostnameState
	// Zone is the DNS zone of the hostname, when known.
	Zone string
}

// TunnelView is a tunnel's live configuration with each rule marked, and
// its connector health as main last read it.
type TunnelView struct {
	Name string
	ID   string
	// Credential is the Cloudflare credential that manages the tunnel.
	Credential string
	Version    int
	Rules      []RuleView
	Error      string // why the live config could not be read
	LastSync   time.Time
	Conflicts  []string

	// Status is Cloudflare's status of the tunnel: healthy, degraded,
	// down or inactive; "" until main read it.
	Status string
	// Connections are the connections of the tunnel's connectors
	// (cloudflared) to Cloudflare's edge; ActiveConnections counts those
	// that serve traffic (not pending reconnect).
	Connections       []ConnectionView
	ActiveConnections int
	// Routes counts the routes labelgate wants on the tunnel.
	Routes int
	// ConnectorsReadAt is when main last read the connectors;
	// ConnectorsError why the last read failed (the last good reading
	// stays).
	ConnectorsReadAt time.Time
	ConnectorsError  string
}

// Health is the tunnel's connector health.
func (t TunnelView) Health() TunnelHealth {
	return TunnelHealth{Name: t.Name, Status: t.Status, ActiveConnections: t.ActiveConnections, Routes: t.Routes, ReadAt: t.ConnectorsReadAt}
}

// ConnectionView is one connection of a tunnel's connector to Cloudflare.
type ConnectionView struct {
	ConnectorID string
	// ClientVersion is the connector's cloudflared version.
	ClientVersion string
	Colo          string
	OriginIP      string
	OpenedAt      time.Time
	// PendingReconnect: the connection dropped; Cloudflare tracks it for a
	// few minutes, and it serves no traffic.
	PendingReconnect bool
}

// RuleView is one ingress rule.
type RuleView struct {
	Hostname string
	Path     string
	Service  string
	Owned    bool
	CatchAll bool
}

// RecordView is one live DNS record.
type RecordView struct {
	Zone    string
	ID      string
	Name    string
	Type    string
	Content string
	Proxied bool
	TTL     int
	Comment string
	Owned   bool
	// Credential is the Cloudflare credential that reads and writes the
	// record's zone (one per zone).
	Credential string
}

// AccessView is the account's Access applications and reusable policies.
type AccessView struct {
	Apps     []AppView
	Policies []PolicyView
	Error    string
	// AccountID and Credential say where the Access objects live and which
	// Cloudflare credential manages them.
	AccountID  string
	Credential string
}

// AppView is one Access application.
type AppView struct {
	ID       string
	Name     string
	Domain   string
	Policies []string // policy names
	Owned    bool
}

// PolicyView is one reusable Access policy.
type PolicyView struct {
	ID       string
	Name     string
	Decision string
	Owned    bool
}

// AgentView is one agent main knows.
type AgentView struct {
	Name      string
	Connected bool
	// State is connected, disconnected (frozen), stale (its claims left) or
	// decommissioned.
	State      string
	LastSeen   time.Time
	StaleSince time.Time
	Version    string
	Hostname   string // the agent host's name
	// DefaultTunnel is main's configured default for the agent, Announced
	// what the agent announced.
	DefaultTunnel    string
	Announced        string
	AllowedHostnames []string
	AllowedTunnels   []string
	AllowedZones     []string
	Claims           int // hostnames it wins
	Containers       int
	Mode             string // inbound or outbound
	Remote           string
	TLSMode          string
	DockerConnected  bool
	// Tunnels are the tunnels the agent's routes use (Routes: how many of
	// its hostnames each carries), each with its connector health.
	Tunnels []TunnelHealth
}

// ConflictView is a hostname that cannot be applied as asked: claimants in a
// queue, or an object Labelgate does not own in the way.
type ConflictView struct {
	Hostname string
	Kind     string // claim or foreign
	Winner   messages.Owner
	Queued   []messages.Owner
	Message  string
}

// LabelErrorView is one refused label.
type LabelErrorView struct {
	Source    string
	Container string
	// Kind is "" for a container, "service" for a Swarm service.
	Kind    string
	Key     string
	Message string
}

// PendingDelete is a hostname whose winner left: its objects are deleted
// (cleanup=true) or retained at Due unless a claimant returns.
type PendingDelete struct {
	Hostname string
	Due      time.Time
	Winner   messages.Owner
	Kinds    []string
}

// PlanPreview is what a reconcile would change now, per planner.
type PlanPreview struct {
	At      time.Time
	Planner []PlannerPlan
}

// PlannerPlan is one planner's preview.
type PlannerPlan struct {
	Planner string // tunnel:<name>, zone:<name>, access
	// Credential is the Cloudflare credential the planner reads and
	// writes with.
	Credential string
	Creates    []string
	Updates    []string
	Deletes    []string
	Conflicts  []string
	Error      string
}

// Health is what /readyz reports.
type Health struct {
	DockerConnected bool
	DockerError     string
	// DockerSwarm says whether Swarm services are followed and why
	// (docker.swarm); empty when it is false.
	DockerSwarm   string
	TokenVerified bool
	TokenError    string
	StoreWritable bool
	StoreError    string
	Settled       bool
	// AgentListener is set when main listens for agents (agent.enabled);
	// AgentListenerError then says why it cannot accept connections now.
	AgentListener      bool
	AgentListenerError string
}

// Ready reports whether main is ready to serve: every check passes.
func (h Health) Ready() bool {
	return h.DockerConnected && h.TokenVerified && h.StoreWritable && h.Settled &&
		(!h.AgentListener || h.AgentListenerError == "")
}
