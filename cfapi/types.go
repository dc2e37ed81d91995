package cfapi

import (
	"bytes"
	"encoding/json"
	"time"
)

// Zone is a DNS zone the token can see.
type Zone struct {
	ID          string
	Name        string
	AccountID   string
	AccountName string
	Status      string // "active", "pending", …
	Plan        string // plan name, e.g. "Free Website"; empty when not reported
	Paused      bool
}

// TokenStatus is the answer of a token verification.
type TokenStatus struct {
	ID        string
	Status    string // "active", "disabled", "expired"
	ExpiresOn time.Time
	NotBefore time.Time
}

// Record is one DNS record.
type Record struct {
	ID      string
	ZoneID  string
	Name    string // fully qualified, punycode
	Type    string // "A", "AAAA", "CNAME", "TXT", "MX", "SRV", "CAA", …
	Content string
	// TTL in seconds; 1 means automatic.
	TTL       int
	Proxied   bool
	Proxiable bool // read only
	Comment   string
	// Priority is used by MX (and URI) records; nil when absent.
	Priority *int
	// SRV and CAA carry the structured data of those types.
	SRV  *SRVData
	CAA  *CAAData
	Tags []string
	// CreatedOn and ModifiedOn are read only.
	CreatedOn  time.Time
	ModifiedOn time.Time
}

// SRVData is the data of an SRV record.
type SRVData struct {
	Priority int    `json:"priority"`
	Weight   int    `json:"weight"`
	Port     int    `json:"port"`
	Target   string `json:"target"`
}

// CAAData is the data of a CAA record.
type CAAData struct {
	Flags int    `json:"flags"`
	Tag   string `json:"tag"`
	Value string `json:"value"`
}

// RecordPatch is a partial update (PATCH): nil fields are left unchanged.
type RecordPatch struct {
	ID       string // required
	Name     *string
	Type     *string
	Content  *string
	TTL      *int
	Proxied  *bool
	Comment  *string
	Priority *int
	SRV      *SRVData
	CAA      *CAAData
	Tags     *[]string
}

// StringMatch filters a string field of a DNS record. At most one operator
// should be set; Cloudflare compares case-insensitively.
type StringMatch struct {
	Exact, Contains, StartsWith, EndsWith string
}

func (m StringMatch) empty() bool {
	return m.Exact == "" && m.Contains == "" && m.StartsWith == "" && m.EndsWith == ""
}

// RecordFilter narrows a record list. The zero value lists every record.
type RecordFilter struct {
	Type    string
	Name    StringMatch
	Content StringMatch
	Comment StringMatch
	// CommentPresent / CommentAbsent keep only records with / without a comment.
	CommentPresent, CommentAbsent bool
	// MatchAny combines the filters with OR instead of AND (`match=any`).
	MatchAny bool
}

// Batch is one call to the DNS batch endpoint. Cloudflare runs the deletes,
// then the patches, then the puts, then the posts, in one transaction: all
// of it applies or none of it does. The caller splits its work into batches
// no larger than the zone's cap (200 on Free plans).
type Batch struct {
	Deletes []string // record ids
	Patches []RecordPatch
	Puts    []Record // ID required
	Posts   []Record // ID ignored
}

// Len is the number of operations in the batch.
func (b Batch) Len() int { return len(b.Deletes) + len(b.Patches) + len(b.Puts) + len(b.Posts) }

// BatchResult holds the records as Cloudflare returned them, per operation
// list, in request order.
type BatchResult struct {
	Deletes, Patches, Puts, Posts []Record
}

// Tunnel is a Cloudflare Tunnel (cfd_tunnel).
type Tunnel struct {
	ID        string
	Name      string
	AccountID string
	Status    string // TunnelHealthy, TunnelDegraded, TunnelDown, TunnelInactive
	ConfigSrc string // "cloudflare" (remotely managed) or "local"
	CreatedAt time.Time
	DeletedAt time.Time
	// ConnsActiveAt is when the tunnel established a connection (zero:
	// inactive); ConnsInactiveAt when it lost its last (zero: active).
	// The GET's own list of connections is not read: Cloudflare has
	// deprecated it ("will start returning an empty array"); read
	// ListTunnelConnections.
	ConnsActiveAt, ConnsInactiveAt time.Time
}

// The statuses Cloudflare reports for a tunnel.
const (
	TunnelHealthy  = "healthy"  // active and serving traffic
	TunnelDegraded = "degraded" // serving traffic, but unhealthy
	TunnelDown     = "down"     // no connection to Cloudflare's edge
	TunnelInactive = "inactive" // never run
)

// TunnelConnector is one cloudflared process connected to a tunnel (what
// Cloudflare's connections endpoint calls a client).
type TunnelConnector struct {
	ID          string
	Version     string // cloudflared's
	Arch        string
	RunAt       time.Time
	Connections []TunnelConnection
}

// TunnelConnection is one connection of a connector to a Cloudflare data
// center.
type TunnelConnection struct {
	ID          string
	ConnectorID string // client_id
	Version     string // client_version: cloudflared's
	Colo        string // colo_name
	OriginIP    string // the public address of the host running cloudflared
	OpenedAt    time.Time
	// PendingReconnect (is_pending_reconnect): the connection dropped and
	// Cloudflare still tracks it for a few minutes; it serves no traffic.
	PendingReconnect bool
}

// ActiveConnections counts the connections that serve traffic (not
// pending reconnect) over every connector.
func ActiveConnections(cs []TunnelConnector) int {
	n := 0
	for _, c := range cs {
		for _, conn := range c.Connections {
			if !conn.PendingReconnect {
				n++
			}
		}
	}
	return n
}

// TunnelConfig is a remotely managed tunnel's configuration document.
//
// It round-trips: every top-level key and every ingress rule key Labelgate
// does not model is kept as raw JSON and written back unchanged, so a GET →
// modify owned rules → PUT never drops what someone else configured.
type TunnelConfig struct {
	TunnelID string // read only
	Version  int    // read only: Cloudflare increments it on every PUT
	Source   string // read only: "cloudflare" or "local"

	Ingress []IngressRule
	// OriginRequest is the top-level originRequest object, verbatim; nil
	// when absent.
	OriginRequest json.RawMessage
	// WarpRouting is the top-level "warp-routing" object, verbatim; nil
	// when absent.
	WarpRouting json.RawMessage
	// Extra holds every other top-level key of the config, verbatim.
	Extra map[string]json.RawMessage
}

// IngressRule is one cloudflared ingress rule.
type IngressRule struct {
	Hostname string
	Path     string
	Service  string
	// OriginRequest is the rule's originRequest object, decoded generically
	// (numbers as json.Number, so they re-encode exactly); nil when absent.
	OriginRequest map[string]any
	// Raw is the rule exactly as Cloudflare returned it (nil for rules built
	// by Labelgate). When the fields above still describe Raw, Raw is written
	// back byte for byte; otherwise the fields are laid over Raw, so keys
	// Labelgate does not model survive an edit too.
	Raw json.RawMessage
}

// IsCatchAll reports whether the rule matches every request: no hostname (or
// "*") and no path. cloudflared requires exactly one, and last.
func (r IngressRule) IsCatchAll() bool {
	return (r.Hostname == "" || r.Hostname == "*") && r.Path == ""
}

// AccessApp is a Zero Trust Access application.
type AccessApp struct {
	ID              string // read only
	AUD             string // read only
	Name            string
	Domain          string
	Type            string // "self_hosted" for everything Labelgate creates
	SessionDuration string // e.g. "24h"
	// Policies are reusable policy ids with their precedence (1 = first).
	Policies               []AppPolicy
	AllowedIdPs            []string
	AutoRedirectToIdentity bool
	AppLauncherVisible     bool
	Tags                   []string
	CreatedAt, UpdatedAt   time.Time // read only
}

// AppPolicy links a reusable policy to an application.
type AppPolicy struct {
	ID         string
	Precedence int
}

// AccessPolicy is a reusable Access policy.
type AccessPolicy struct {
	ID              string // read only
	Name            string
	Decision        string // "allow", "deny", "bypass", "non_identity"
	Include         []Rule
	Require         []Rule
	Exclude         []Rule
	SessionDuration string
	AppCount        int       // read only: applications using the policy
	Reusable        bool      // read only
	CreatedAt       time.Time // read only
	UpdatedAt       time.Time // read only
}

// RuleKind is an Access rule selector, named by its Cloudflare JSON key.
type RuleKind string

// The selectors Labelgate's access labels produce (label name in brackets).
const (
	RuleEmail                RuleKind = "email"                   // {"email":{"email":V}} [emails]
	RuleEmailDomain          RuleKind = "email_domain"            // {"email_domain":{"domain":V}} [emails_ending_in]
	RuleIP                   RuleKind = "ip"                      // {"ip":{"ip":V}} [ip_ranges]
	RuleCountry              RuleKind = "geo"                     // {"geo":{"country_code":V}} [country]
	RuleEveryone             RuleKind = "everyone"                // {"everyone":{}} [everyone]
	RuleServiceToken         RuleKind = "service_token"           // {"service_token":{"token_id":V}} [service_token]
	RuleAnyValidServiceToken RuleKind = "any_valid_service_token" // {"any_valid_service_token":{}}
	RuleGroup                RuleKind = "group"                   // {"group":{"id":V}} [access_groups]
	RuleCertificate          RuleKind = "certificate"             // {"certificate":{}} [certificate]
	RuleLoginMethod          RuleKind = "login_method"            // {"login_method":{"id":V}} [login_methods]
)

// Rule is one include/require/exclude entry of an Access policy.
type Rule struct {
	Kind RuleKind
	// Value is the selector's argument; empty for everyone, certificate and
	// any_valid_service_token.
	Value string
	// Raw is the rule as Cloudflare returned it. A rule of a selector this
	// package does not model has Kind "" and only Raw; it can be read but not
	// written.
	Raw json.RawMessage
}

// jsonUnmarshal decodes with json.Number so that numbers round-trip exactly.
func jsonUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}
