package actors

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/labelgate/labelgate/labels"
	"github.com/labelgate/labelgate/messages"
)

// This file turns one container's labels into claims: per hostname, the
// resources the container wants there (tunnel rules, DNS records, an Access
// binding), after the checks that only span one container. It is pure.

// TunnelRef is a configured tunnel.
type TunnelRef struct {
	TunnelID, AccountID, Credential string
}

// ClaimConfig is what claim building needs from the configuration.
type ClaimConfig struct {
	Labels labels.Options
	// Tunnels maps configured tunnel names to their ids.
	Tunnels map[string]TunnelRef
	// DefaultTunnel is the global default tunnel name.
	DefaultTunnel string
	// AgentDefaults maps an agent source to the default tunnel main's config
	// gives it; AnnouncedDefaults is what agents announced themselves.
	AgentDefaults, AnnouncedDefaults map[string]string
	// Scopes restricts what an agent source may claim (none for local).
	Scopes map[string]Scope
	// Pinned are the Access templates of main's configuration
	// (access.templates): they apply to every source's hostnames, and no
	// label can redefine them.
	Pinned map[string]labels.AccessTemplate
}

// Scope restricts an agent: hostname glob patterns (`*.lab.example.com`),
// DNS zones and tunnel names. An empty list does not restrict; a hostname
// must pass every list that is set.
type Scope struct {
	Hostnames []string
	Zones     []string
	Tunnels   []string
}

// PublicIPs are the public addresses `target: auto` resolves to.
type PublicIPs struct {
	V4, V6 string
}

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
}

type ruleSpec struct {
	messages.DesiredRule
	Cleanup bool `json:"cleanup"`
}

type recordSpec struct {
	messages.DesiredRecord
	Cleanup bool `json:"cleanup"`
}

// cleanupAll reports whether every resource of the spec may be deleted.
func (h hostSpec) cleanupAll() bool {
	for _, r := range h.Rules {
		if !r.Cleanup {
			return false
		}
	}
	for _, r := range h.Records {
		if !r.Cleanup {
			return false
		}
	}
	return true
}

// retainedPart keeps the resources whose cleanup is false (and the Access
// app, which must protect a route for as long as the route stays).
func (h hostSpec) retainedPart() hostSpec {
	out := hostSpec{Tunnel: h.Tunnel, Access: h.Access, App: h.App}
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
		out.Access, out.App = "", nil
	}
	return out
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

// buildClaims parses one container and resolves everything that depends
// only on it, its source and the configuration.
func buildClaims(source string, c messages.Container, cfg ClaimConfig, ips PublicIPs) ContainerReport {
	res := labels.Parse(c.Labels, cfg.Labels)
	rep := ContainerReport{Source: source, Container: c.Name, Hosts: map[string]hostSpec{}, Templates: res.Access, Errors: res.Errors}
	prefix := cmp.Or(cfg.Labels.Prefix, labels.DefaultPrefix)
	fail := func(kind, service, property, format string, args ...any) {
		rep.Errors = append(rep.Errors, labels.Error{
			Key: prefix + "." + kind + "." + service + "." + property, Kind: kind, Service: service,
			Message: fmt.Sprintf(format, args...),
		})
	}
	owner := func(service string) messages.Owner {
		return messages.Owner{Source: source, Container: c.Name, Service: service}
	}
	scope, scoped := cfg.Scopes[source]

	type tunnelClaim struct {
		svc    labels.TunnelService
		tunnel string
	}
	byHost := map[string][]tunnelClaim{}
	for _, t := range res.Tunnels {
		name, why := assignTunnel(source, t.Tunnel, cfg)
		if why != "" {
			fail(labels.KindTunnel, t.Service, "tunnel", "%s", why)
			continue
		}
		if why := scope.refuses(t.Hostname); scoped && why != "" {
			fail(labels.KindTunnel, t.Service, "hostname", "%s", why)
			continue
		}
		if scoped && len(scope.Tunnels) > 0 && !slices.Contains(scope.Tunnels, name) {
			fail(labels.KindTunnel, t.Service, "tunnel", "tunnel %q is outside this agent's allowed tunnels (%s); main refuses it", name, strings.Join(scope.Tunnels, ", "))
			continue
		}
		byHost[t.Hostname] = append(byHost[t.Hostname], tunnelClaim{t, name})
	}
	for _, host := range slices.Sorted(maps.Keys(byHost)) {
		claims := byHost[host]
		first := claims[0]
		spec := hostSpec{Tunnel: first.tunnel}
		paths := map[string]string{}
		ok := true
		for _, tc := range claims {
			switch {
			case tc.tunnel != first.tunnel:
				fail(labels.KindTunnel, tc.svc.Service, "tunnel", "hostname %s is routed through tunnel %q by service %s of this container; one hostname's CNAME can point at one tunnel only", host, first.tunnel, first.svc.Service)
				ok = false
			case paths[tc.svc.Path] != "":
				fail(labels.KindTunnel, tc.svc.Service, "path", "service %s of this container already routes hostname %s with path %q", paths[tc.svc.Path], host, tc.svc.Path)
				ok = false
			case tc.svc.Access != "" && spec.Access != "" && tc.svc.Access != spec.Access:
				fail(labels.KindTunnel, tc.svc.Service, "access", "hostname %s is already protected by access template %q on this container; one hostname has one Access application", host, spec.Access)
				ok = false
			default:
				paths[tc.svc.Path] = tc.svc.Service
				if tc.svc.Access != "" {
					spec.Access = tc.svc.Access
				}
				var origin json.RawMessage
				if tc.svc.OriginRequest != nil {
					origin, _ = json.Marshal(tc.svc.OriginRequest)
				}
				spec.Rules = append(spec.Rules, ruleSpec{DesiredRule: messages.DesiredRule{
					Hostname: host, Path: tc.svc.Path, Service: tc.svc.Origin, OriginRequest: origin, Owner: owner(tc.svc.Service),
				}, Cleanup: tc.svc.Cleanup})
			}
		}
		if !ok && len(spec.Rules) == 0 {
			continue
		}
		ref := cfg.Tunnels[spec.Tunnel]
		// The proxied CNAME every tunnel hostname needs; it follows the
		// rules' cleanup: it is deleted only if every rule may be.
		cleanup := true
		for _, r := range spec.Rules {
			cleanup = cleanup && r.Cleanup
		}
		spec.Records = append(spec.Records, recordSpec{DesiredRecord: messages.DesiredRecord{
			Name: host, Type: "CNAME", Content: ref.TunnelID + ".cfargotunnel.com", Proxied: true, TTL: 1,
			Credential: claims[0].svc.Credential, Tunnel: spec.Tunnel, Owner: owner(claims[0].svc.Service),
		}, Cleanup: cleanup})
		sortSpec(&spec)
		rep.Hosts[host] = spec
	}

	for _, d := range res.DNS {
		if why := scope.refuses(d.Hostname); scoped && why != "" {
			fail(labels.KindDNS, d.Service, "hostname", "%s", why)
			continue
		}
		spec, exists := rep.Hosts[d.Hostname]
		if exists && spec.Tunnel != "" {
			fail(labels.KindDNS, d.Service, "hostname", "hostname %s is a tunnel route on this container, and a tunnel hostname's DNS record is the tunnel's CNAME; remove this record or route another hostname", d.Hostname)
			continue
		}
		rec := resolveRecord(d, c, source, ips)
		rec.Owner = owner(d.Service)
		if msg := recordClash(spec.Records, rec.DesiredRecord); msg != "" {
			fail(labels.KindDNS, d.Service, "hostname", "%s", msg)
			continue
		}
		if d.Access != "" && spec.Access != "" && d.Access != spec.Access {
			fail(labels.KindDNS, d.Service, "access", "hostname %s is already protected by access template %q on this container; one hostname has one Access application", d.Hostname, spec.Access)
			continue
		}
		if d.Access != "" {
			spec.Access = d.Access
		}
		rec.Cleanup = d.Cleanup
		spec.Records = append(spec.Records, rec)
		sortSpec(&spec)
		rep.Hosts[d.Hostname] = spec
	}
	slices.SortFunc(rep.Errors, func(a, b labels.Error) int { return cmp.Compare(a.Key, b.Key) })
	return rep
}

// assignTunnel picks the tunnel for a tunnel service: its label, else the
// agent's default (main's config for the agent first, then what the agent
// announced), else the global default. An unknown name is an error, never a
// fallback.
func assignTunnel(source, label string, cfg ClaimConfig) (string, string) {
	name, from := label, "its tunnel label"
	if name == "" {
		if d := cfg.AgentDefaults[source]; d != "" {
			name, from = d, "main's default tunnel for this agent"
		} else if d := cfg.AnnouncedDefaults[source]; d != "" {
			name, from = d, "the default tunnel the agent announced"
		} else {
			name, from = cfg.DefaultTunnel, "the global default tunnel"
		}
	}
	if len(cfg.Tunnels) == 0 {
		return "", "no tunnel is configured; set LABELGATE_CLOUDFLARE_ACCOUNT_ID and LABELGATE_CLOUDFLARE_TUNNEL_ID, or cloudflare.tunnels"
	}
	if _, ok := cfg.Tunnels[name]; !ok {
		return "", fmt.Sprintf("tunnel %q (from %s) is not configured; configured tunnels: %s", name, from, strings.Join(slices.Sorted(maps.Keys(cfg.Tunnels)), ", "))
	}
	return name, ""
}

// refuses says why host is outside the scope, "" when it is inside.
func (s Scope) refuses(host string) string {
	if len(s.Hostnames) > 0 && !slices.ContainsFunc(s.Hostnames, func(p string) bool { return hostMatches(p, host) }) {
		return fmt.Sprintf("hostname %s is outside this agent's allowed hostnames (%s); main refuses it", host, strings.Join(s.Hostnames, ", "))
	}
	if len(s.Zones) > 0 && !slices.ContainsFunc(s.Zones, func(z string) bool { return inZone(host, z) }) {
		return fmt.Sprintf("hostname %s is outside this agent's allowed zones (%s); main refuses it", host, strings.Join(s.Zones, ", "))
	}
	return ""
}

// inZone reports whether host is zone or a name below it.
func inZone(host, zone string) bool {
	zone = strings.TrimSuffix(strings.ToLower(zone), ".")
	return host == zone || strings.HasSuffix(host, "."+zone)
}

// hostMatches matches a hostname against a scope pattern: an exact name, or
// `*.example.com`, which matches any name below example.com (and the
// wildcard name itself).
func hostMatches(pattern, host string) bool {
	pattern = strings.ToLower(pattern)
	if pattern == host {
		return true
	}
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok {
		return strings.HasSuffix(host, suffix) && len(host) > len(suffix)
	}
	return false
}

// resolveRecord turns a DNS service into a record, resolving `auto` to the
// source's public IP and `container` to the container's address.
func resolveRecord(d labels.DNSService, c messages.Container, source string, ips PublicIPs) recordSpec {
	r := messages.DesiredRecord{
		Name: d.Hostname, Type: d.Type, Proxied: d.Proxied, TTL: d.TTL, Comment: d.Comment, Credential: d.Credential,
	}
	switch d.Target.Kind {
	case labels.TargetAuto:
		ip := ips.V4
		if d.Type == "AAAA" {
			ip = ips.V6
		}
		if ip == "" {
			r.Unresolved = fmt.Sprintf("the public %s address of %s is not known yet", family(d.Type), source)
		}
		r.Content = ip
	case labels.TargetContainer:
		ip, why := containerIP(c, d.Target.Network, d.Type == "AAAA")
		r.Content, r.Unresolved = ip, why
	default:
		r.Content = d.Target.Value
	}
	switch d.Type {
	case "MX":
		p := int(*d.Priority)
		r.Priority = &p
	case "SRV":
		r.SRV = &messages.SRV{Priority: int(*d.Priority), Weight: int(*d.Weight), Port: int(*d.Port), Target: d.Target.Value}
		r.Content = fmt.Sprintf("%d %d %s", *d.Weight, *d.Port, d.Target.Value)
	case "CAA":
		r.CAA = &messages.CAA{Flags: int(*d.Flags), Tag: d.Tag, Value: d.Target.Value}
		r.Content = fmt.Sprintf("%d %s %q", *d.Flags, d.Tag, d.Target.Value)
	}
	return recordSpec{DesiredRecord: r}
}

func family(recordType string) string {
	if recordType == "AAAA" {
		return "IPv6"
	}
	return "IPv4"
}

// containerIP picks the container's address deterministically: on the named
// network, else on the first network in name order that has an address of
// the wanted family.
func containerIP(c messages.Container, network string, v6 bool) (string, string) {
	nets := slices.Clone(c.Networks)
	slices.SortFunc(nets, func(a, b messages.Network) int { return cmp.Compare(a.Name, b.Name) })
	for _, n := range nets {
		if network != "" && n.Name != network {
			continue
		}
		ip := n.IPv4
		if v6 {
			ip = n.IPv6
		}
		if a, err := netip.ParseAddr(ip); err == nil {
			return a.String(), ""
		}
	}
	if network != "" {
		return "", fmt.Sprintf("container %s has no %s address on network %s", c.Name, map[bool]string{false: "IPv4", true: "IPv6"}[v6], network)
	}
	return "", fmt.Sprintf("container %s has no %s address on any network", c.Name, map[bool]string{false: "IPv4", true: "IPv6"}[v6])
}

// recordClash checks a new record against the container's other records at
// the same name, with Cloudflare's rules: a CNAME stands alone, and a record
// may not be given twice.
func recordClash(existing []recordSpec, r messages.DesiredRecord) string {
	for _, e := range existing {
		switch {
		case e.Type == "CNAME" || r.Type == "CNAME":
			return fmt.Sprintf("hostname %s already has a %s record on this container, and a CNAME cannot share its name with any other record", r.Name, e.Type)
		case e.Type == r.Type && e.Content == r.Content && e.Unresolved == "" && r.Unresolved == "":
			return fmt.Sprintf("this container already declares the same %s record for %s (service %s)", r.Type, r.Name, e.Owner.Service)
		}
	}
	return ""
}

func sortSpec(s *hostSpec) {
	slices.SortFunc(s.Rules, func(a, b ruleSpec) int {
		return cmp.Or(cmp.Compare(a.Hostname, b.Hostname), cmp.Compare(b.Path, a.Path))
	})
	slices.SortFunc(s.Records, func(a, b recordSpec) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Type, b.Type), cmp.Compare(a.Content, b.Content), cmp.Compare(a.Owner.Service, b.Owner.Service))
	})
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
