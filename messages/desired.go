package messages

import (
	"encoding/json"
	"time"
)

// DesiredState is the registry's full answer to "what should Cloudflare
// hold?": every owned object, including those of frozen agents and of
// hostnames waiting out their grace or retained by cleanup=false.
//
// It is level-triggered and versioned like ContainerSet. Settled is false
// until the startup settle point; before it no planner deletes anything.
type DesiredState struct {
	Version uint64
	Settled bool
	// Tunnels maps a configured tunnel name to its owned ingress rules.
	Tunnels map[string]DesiredTunnel
	// Records are the DNS records to hold: dns services and the proxied
	// CNAME of every tunnel hostname. The DNS actor assigns them to zones.
	Records []DesiredRecord
	// Apps are the Access applications, one per protected hostname.
	Apps []DesiredApp
}

// DesiredTunnel is what one tunnel should route for Labelgate.
type DesiredTunnel struct {
	Name      string
	TunnelID  string
	AccountID string
	// Credential names the API credential the tunnel's calls use.
	Credential string
	Rules      []DesiredRule
}

// DesiredRule is one owned ingress rule.
type DesiredRule struct {
	Hostname string
	Path     string
	Service  string
	// OriginRequest is the rule's originRequest object in API form (already
	// normalised by the label parser), or nil.
	OriginRequest json.RawMessage
	// Owner says which container the rule comes from (for reports).
	Owner Owner
	// Held is set while the Access application meant to protect this route
	// does not exist yet: a planner never adds such a rule (a route already
	// live stays), so a protected route is never published unprotected.
	Held bool `json:",omitempty"`
}

// DesiredRecord is one owned DNS record.
type DesiredRecord struct {
	Name string
	Type string
	// Content is the record content in the form Cloudflare stores it. It is
	// empty when Unresolved: the record's target (a public IP not yet
	// discovered, a container address not known) cannot be computed now, so
	// planners must leave whatever exists untouched rather than delete it.
	Content    string
	Unresolved string // why the content is unknown; empty when resolved
	Proxied    bool
	TTL        int
	Comment    string // the user's comment; the planner adds the marker
	Priority   *int
	SRV        *SRV
	CAA        *CAA
	Credential string
	// Tunnel is set for a tunnel hostname's CNAME: the tunnel's name.
	Tunnel string
	Owner  Owner
}

// SRV is the structured content of an SRV record.
type SRV struct {
	Priority, Weight, Port int
	Target                 string
}

// CAA is the structured content of a CAA record.
type CAA struct {
	Flags int
	Tag   string
	Value string
}

// DesiredApp is one Access application protecting a hostname, with the
// policy of its template.
type DesiredApp struct {
	Hostname        string
	Name            string
	SessionDuration string
	Template        string
	Policy          DesiredPolicy
	Owner           Owner
}

// DesiredPolicy is a reusable Access policy; apps bound to the same template
// share one.
type DesiredPolicy struct {
	Name     string
	Decision string
	Include  []AccessRule
	Require  []AccessRule
	Exclude  []AccessRule
}

// AccessRule is one policy rule: a label selector and its value.
type AccessRule struct {
	Selector string
	Value    string
}

// Owner names the claim an object belongs to.
type Owner struct {
	Source    string
	Container string
	Service   string // the label service name
}

// HostnameState is how the registry sees one hostname, for the API.
type HostnameState struct {
	Hostname string
	// Path is set for a route that owns one path of the hostname (the
	// hostname is split across routes by path); "" for the hostname itself.
	Path string
	// State is active, leaving (the winner is gone; its objects stay until
	// Due), retained (cleanup=false kept them after the grace), frozen (the
	// winner's agent is disconnected), or refused (no claim could be applied).
	State  HostState
	Winner Owner
	Due    time.Time
	// Queued are the other claimants, first in line first.
	Queued []Owner
	Kinds  []string // tunnel, dns, access
	Tunnel string
	Error  string
}
