package actors

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/labelgate/labelgate/claims"
	"github.com/labelgate/labelgate/labels"
	"github.com/labelgate/labelgate/messages"
)

// This file adapts package claims, which turns one container's labels into
// claims, to the registry: a hostname's spec is what its winner claims there
// plus the Access app the registry resolves for it.

// The claim configuration and its parts are package claims' own.
type (
	TunnelRef   = claims.TunnelRef
	ClaimConfig = claims.Config
	Scope       = claims.Scope
	PublicIPs   = claims.PublicIPs
)

// hostSpec is everything one claimant wants at one hostname. It is also what
// the store keeps for a hostname's winner, so it is JSON-encodable.
type hostSpec struct {
	Tunnel  string       `json:"tunnel,omitempty"`
	Rules   []ruleSpec   `json:"rules,omitempty"`
	Records []recordSpec `json:"records,omitempty"`
	// Access is the template name; App is its resolved content, kept so a
	// protected hostname stays protected if the template's container goes.
	Access string               `json:"access,omitempty"`
	App    *messages.DesiredApp `json:"app,omitempty"`
	// AccessPath is the Access application path of a route slot's own app
	// (its domain is the hostname followed by it); "" for a hostname slot.
	AccessPath string `json:"access_path,omitempty"`
}

type (
	ruleSpec   = claims.Rule
	recordSpec = claims.Record
)

// retainedPart keeps the resources whose cleanup is false (and the Access
// app, which must protect a route for as long as the route stays).
func (h hostSpec) retainedPart() hostSpec {
	out := hostSpec{Tunnel: h.Tunnel, Access: h.Access, App: h.App, AccessPath: h.AccessPath}
	for _, r := range h.Rules {
		if !r.Cleanup {
			out.Rules = append(out.Rules, r)
		}
	}
	for _, r := range h.Records {
		if !r.Cleanup {
			out.Records = append(out.Records, r)
		}
	}
	if len(out.Rules) == 0 {
		out.Tunnel = ""
	}
	if len(out.Rules) == 0 && len(out.Records) == 0 {
		out.Access, out.App, out.AccessPath = "", nil, ""
	}
	return out
}

// fate says what the end of a grace does to the spec's objects when no
// other claimant takes the hostname over: which are deleted (cleanup=true,
// the default of tunnel routes) and which are kept (cleanup=false, the
// default of DNS records).
func (h hostSpec) fate() string {
	var del, keep []string
	for _, r := range h.Rules {
		what := "route"
		if r.Path != "" {
			what += " (path " + r.Path + ")"
		}
		if r.Cleanup {
			del = append(del, what)
		} else {
			keep = append(keep, what)
		}
	}
	for _, r := range h.Records {
		what := r.Type + " record"
		if r.Tunnel != "" {
			what = "CNAME to the tunnel"
		}
		if r.Cleanup {
			del = append(del, what)
		} else {
			keep = append(keep, what)
		}
	}
	if h.App != nil {
		if h.retainedPart().empty() {
			del = append(del, "Access app")
		} else {
			keep = append(keep, "Access app (it protects what stays)")
		}
	}
	list := func(items []string, verb string) string {
		be := " is "
		if len(items) > 1 {
			be = " are "
		}
		return "its " + strings.Join(items, ", ") + be + verb
	}
	var parts []string
	if len(del) > 0 {
		parts = append(parts, list(del, "deleted (cleanup=true)"))
	}
	if len(keep) > 0 {
		parts = append(parts, list(keep, "kept (cleanup=false)"))
	}
	if len(parts) == 0 {
		return "nothing is left to delete"
	}
	return strings.Join(parts, " and ")
}

func (h hostSpec) empty() bool { return len(h.Rules) == 0 && len(h.Records) == 0 }

func (h hostSpec) kinds() []string {
	var k []string
	if len(h.Rules) > 0 {
		k = append(k, "tunnel")
	}
	if len(h.Records) > 0 {
		k = append(k, "dns")
	}
	if h.Access != "" {
		k = append(k, "access")
	}
	return k
}

func (h hostSpec) equal(o hostSpec) bool {
	a, _ := json.Marshal(h)
	b, _ := json.Marshal(o)
	return string(a) == string(b)
}

// ContainerReport is the outcome of one container's labels.
type ContainerReport struct {
	Source, Container string
	// Kind is "" for a container, messages.KindService for a Swarm service.
	Kind string
	// Hosts maps each hostname the container validly claims to its spec.
	Hosts map[string]hostSpec
	// Templates are the Access templates the container defines.
	Templates []labels.AccessTemplate
	// Errors are label errors and the registry's own refusals, each naming
	// the label at fault; at most maxErrorsPerContainer of them are kept.
	Errors []labels.Error
	// Dropped counts the errors beyond those kept.
	Dropped int
}

// buildClaims builds one container's claims with package claims (the path
// `labelgate check` takes too) for the registry.
func buildClaims(source string, c messages.Container, cfg ClaimConfig, ips PublicIPs) ContainerReport {
	b := claims.Build(source, c, cfg, ips)
	rep := ContainerReport{Source: source, Container: c.Name, Kind: c.Kind, Hosts: make(map[string]hostSpec, len(b.Hosts)),
		Templates: b.Parsed.Access, Errors: b.LabelErrors()}
	for host, h := range b.Hosts {
		for slot, spec := range splitHost(host, h) {
			rep.Hosts[slot] = spec
		}
	}
	return rep
}

// A slot is the registry's unit of ownership: a hostname (its path-less
// route, or its DNS records) or one path of a hostname's routes. Slots of
// one hostname are decided separately (first registration wins per slot)
// but must agree (compatible): one tunnel, and no DNS record beside
// routes. Its key is the hostname, or the hostname, a space and the path
// (a hostname has no space).
func slotKey(host, path string) string {
	if path == "" {
		return host
	}
	return host + " " + path
}

// splitSlot is slotKey's inverse.
func splitSlot(slot string) (host, path string) {
	host, path, _ = strings.Cut(slot, " ")
	return host, path
}

// splitHost cuts what one container wants at a hostname into slots: the
// path-less route with the records, and one slot per route with a path. Every
// slot with a route carries the hostname's CNAME (the desired state lists
// it once), with that slot's cleanup.
func splitHost(host string, h claims.Host) map[string]hostSpec {
	out := map[string]hostSpec{}
	base := hostSpec{Tunnel: h.Tunnel, Access: h.Access}
	var cname *recordSpec
	for _, r := range h.Records {
		if r.Tunnel != "" {
			c := r
			cname = &c
			continue
		}
		base.Records = append(base.Records, r)
	}
	cleanupAll := true
	for _, r := range h.Rules {
		if r.Path == "" {
			base.Rules = append(base.Rules, r)
			cleanupAll = cleanupAll && r.Cleanup
			continue
		}
		slot := hostSpec{Tunnel: h.Tunnel, Rules: []ruleSpec{r}, Access: r.Access, AccessPath: r.AccessPath}
		if cname != nil {
			c := *cname
			c.Cleanup = r.Cleanup
			slot.Records = []recordSpec{c}
		}
		out[slotKey(host, r.Path)] = slot
	}
	if len(base.Rules) > 0 && cname != nil {
		c := *cname
		c.Cleanup = cleanupAll
		base.Records = append(base.Records, c)
	}
	if len(base.Rules) == 0 {
		base.Tunnel = ""
	}
	if !base.empty() {
		out[host] = base
	}
	return out
}

// compatible reports whether two slots of one hostname can both be
// published: their routes go through one tunnel (the hostname has one
// CNAME), and no DNS record stands beside a route.
func compatible(a, b hostSpec) bool {
	ar, br := len(a.Rules) > 0, len(b.Rules) > 0
	switch {
	case ar && br:
		return a.Tunnel == b.Tunnel
	case ar:
		return !hasPlainRecords(b)
	case br:
		return !hasPlainRecords(a)
	}
	return true
}

func hasPlainRecords(s hostSpec) bool {
	for _, r := range s.Records {
		if r.Tunnel == "" {
			return true
		}
	}
	return false
}

// claimKey identifies a claimant of a hostname.
type claimKey struct{ Source, Container string }

func (k claimKey) String() string { return k.Source + "/" + k.Container }

// claimant is one container's claim on one hostname, as the registry tracks it.
type claimant struct {
	key        claimKey
	registered time.Time // when first seen; persisted
	created    time.Time // the container's creation time (tie-break)
	spec       hostSpec  // nil-empty when loaded from the store and not yet reported
	known      bool      // spec came from a report in this run
	missing    time.Time // zero while present; else when it was first found absent
	mark       uint64    // the registry's epoch of the last rebuild that saw this claim
}

// before orders claimants for the hostname: first registration wins; exact
// ties go to the older container, then by source and container name — never
// by map order.
func (c *claimant) before(o *claimant) bool {
	if !c.registered.Equal(o.registered) {
		return c.registered.Before(o.registered)
	}
	if !c.created.Equal(o.created) {
		return c.created.Before(o.created)
	}
	if c.key.Source != o.key.Source {
		return c.key.Source < o.key.Source
	}
	return c.key.Container < o.key.Container
}
