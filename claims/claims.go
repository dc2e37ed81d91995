package claims

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/labelgate/labelgate/labels"
	"github.com/labelgate/labelgate/messages"
)

// TunnelRef is a configured tunnel.
type TunnelRef struct {
	TunnelID, AccountID, Credential string
}

// Config is what claim building needs from main's configuration.
type Config struct {
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
	// label can redefine them. Claim building does not use them; the
	// registry and `labelgate check` do.
	Pinned map[string]labels.AccessTemplate
	// Unknown marks what the caller cannot know. Main knows everything and
	// leaves it zero.
	Unknown Unknown
}

// Unknown lists the parts of Config a caller without a running main
// (`labelgate check`) may not know. The checks that depend on an unknown
// part are not made: they neither pass nor fail.
type Unknown struct {
	// Tunnels: the tunnel list is unknown, so no tunnel name (from a label
	// or a default) is judged: neither "no tunnel is configured" nor an
	// unknown name.
	Tunnels bool
	// Announced: what the agent announces is unknown, so a route that
	// falls back to it (no tunnel label, no default of main's for the
	// agent) goes through a tunnel that is not known: its name is neither
	// judged nor compared with the container's other routes, nor with the
	// agent's allowed tunnels.
	Announced bool
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

// Rule is one tunnel ingress rule a container wants, and whether it may be
// deleted when nothing claims it any more.
type Rule struct {
	messages.DesiredRule
	Cleanup bool `json:"cleanup"`
	// Access is the template of a route with a path, which gets an Access
	// application of its own on AccessPath (hostname + AccessPath); a
	// path-less route's template is the Host's Access.
	Access     string `json:"access,omitempty"`
	AccessPath string `json:"access_path,omitempty"`
}

// Record is one DNS record a container wants, and whether it may be deleted
// when nothing claims it any more.
type Record struct {
	messages.DesiredRecord
	Cleanup bool `json:"cleanup"`
}

// Host is everything one container wants at one hostname.
type Host struct {
	// Tunnel is the name of the tunnel the hostname's rules go through,
	// "" when it has none (or, with Unknown.Announced, when the tunnel is
	// the agent's announced one).
	Tunnel  string
	Rules   []Rule
	Records []Record
	// Access is the name of the Access template that protects the
	// hostname (its path-less route or its DNS records), "" for none.
	// Routes with a path carry their own (Rule.Access).
	Access string
}

// Report is the outcome of one container's labels.
type Report struct {
	Source, Container string
	// Parsed is what labels.Parse made of the labels; its Errors are also
	// in Errors.
	Parsed labels.Result
	// Hosts maps each hostname the container validly claims to what it
	// wants there.
	Hosts map[string]Host
	// Errors are the label errors and the refusals of the checks, each
	// naming the label at fault, sorted by key.
	Errors []Error
}

// Error is one refused label and the check that refused it.
type Error struct {
	labels.Error
	Check Check `json:"check"`
}

// LabelErrors returns the errors without their checks.
func (r Report) LabelErrors() []labels.Error {
	if len(r.Errors) == 0 {
		return nil
	}
	out := make([]labels.Error, len(r.Errors))
	for i, e := range r.Errors {
		out[i] = e.Error
	}
	return out
}

// Refused reports whether the service kind.name of the container has an
// error: labels.Parse skipped it, or a check refused it.
func (r Report) Refused(kind, service string) bool {
	return slices.ContainsFunc(r.Errors, func(e Error) bool { return e.Kind == kind && e.Service == service })
}

// Build parses one container as main's registry sees it and resolves
// everything that depends only on the container, its source, the
// configuration and the source's public addresses.
func Build(source string, c messages.Container, cfg Config, ips PublicIPs) Report {
	return build(source, c, cfg, func(d labels.DNSService) (string, string) {
		return address(d, c, source, ips)
	})
}

// Lint judges labels alone, as `labelgate check` does: there is no running
// container and no public address, so an `auto` or `container` target
// stands for itself (its content is the target as written). Two records
// that name the same target are then the same record, as main finds once it
// knows the address; records whose different targets happen to resolve to
// the same address at run time are only found by main.
func Lint(source, container string, raw map[string]string, cfg Config) Report {
	return build(source, messages.Container{Name: container, Labels: raw}, cfg, symbolic)
}

// symbolic is Lint's address of a record target: the target as written.
func symbolic(d labels.DNSService) (string, string) {
	switch d.Target.Kind {
	case labels.TargetAuto:
		return "auto", ""
	case labels.TargetContainer:
		return strings.TrimSuffix("container:"+d.Target.Network, ":"), ""
	}
	return d.Target.Value, ""
}

// build is Build and Lint; addr gives a record target's content, or why it
// is not known yet.
func build(source string, c messages.Container, cfg Config, addr func(labels.DNSService) (string, string)) Report {
	res := labels.Parse(c.Labels, cfg.Labels)
	rep := Report{Source: source, Container: c.Name, Parsed: res, Hosts: map[string]Host{}}
	if len(res.Errors) > 0 {
		rep.Errors = make([]Error, 0, len(res.Errors))
		for _, e := range res.Errors {
			rep.Errors = append(rep.Errors, Error{Error: e, Check: CheckLabel})
		}
	}
	prefix := cmp.Or(cfg.Labels.Prefix, labels.DefaultPrefix)
	fail := func(check Check, kind, service, property, format string, args ...any) {
		rep.Errors = append(rep.Errors, Error{Check: check, Error: labels.Error{
			Key: prefix + "." + kind + "." + service + "." + property, Kind: kind, Service: service,
			Message: fmt.Sprintf(format, args...),
		}})
	}
	owner := func(service string) messages.Owner {
		return messages.Owner{Source: source, Container: c.Name, Service: service}
	}
	scope, scoped := cfg.Scopes[source]

	type tunnelClaim struct {
		svc    labels.TunnelService
		tunnel string // "" when unknown (Unknown.Announced)
	}
	byHost := map[string][]tunnelClaim{}
	for _, t := range res.Tunnels {
		name, check, why := assignTunnel(source, t.Tunnel, cfg)
		if why != "" {
			fail(check, labels.KindTunnel, t.Service, "tunnel", "%s", why)
			continue
		}
		if check, why := scope.refuses(t.Hostname); scoped && why != "" {
			fail(check, labels.KindTunnel, t.Service, "hostname", "%s", why)
			continue
		}
		if scoped && len(scope.Tunnels) > 0 && name != "" && !slices.Contains(scope.Tunnels, name) {
			fail(CheckScopeTunnel, labels.KindTunnel, t.Service, "tunnel", "tunnel %q is outside this agent's allowed tunnels (%s); main refuses it", name, strings.Join(scope.Tunnels, ", "))
			continue
		}
		byHost[t.Hostname] = append(byHost[t.Hostname], tunnelClaim{t, name})
	}
	for _, host := range slices.Sorted(maps.Keys(byHost)) {
		claims := byHost[host]
		first := claims[0]
		spec := Host{Tunnel: first.tunnel}
		paths := map[string]string{}
		ok := true
		for _, tc := range claims {
			switch {
			// An unknown tunnel ("") is compared with nothing: main never
			// has one.
			case tc.tunnel != first.tunnel && tc.tunnel != "" && first.tunnel != "":
				fail(CheckOneTunnel, labels.KindTunnel, tc.svc.Service, "tunnel", "hostname %s is routed through tunnel %q by service %s of this container; one hostname's CNAME can point at one tunnel only", host, first.tunnel, first.svc.Service)
				ok = false
			case paths[tc.svc.Path] != "":
				fail(CheckDuplicatePath, labels.KindTunnel, tc.svc.Service, "path", "service %s of this container already routes hostname %s with path %q", paths[tc.svc.Path], host, tc.svc.Path)
				ok = false
			case tc.svc.Access != "" && tc.svc.Path != "" && !accessPathOK(tc.svc.Path):
				fail(CheckAccessPath, labels.KindTunnel, tc.svc.Service, "path", "path %q cannot be expressed as an Access application path, so access %q could not protect exactly what this route serves; write a plain prefix such as ^/webhook(/|$) or ^/webhook/", tc.svc.Path, tc.svc.Access)
				ok = false
			default:
				paths[tc.svc.Path] = tc.svc.Service
				rule := Rule{DesiredRule: messages.DesiredRule{
					Hostname: host, Path: tc.svc.Path, Service: tc.svc.Origin, Owner: owner(tc.svc.Service),
				}, Cleanup: tc.svc.Cleanup}
				switch {
				case tc.svc.Path == "":
					spec.Access = tc.svc.Access
				case tc.svc.Access != "":
					rule.Access, rule.AccessPath = tc.svc.Access, AccessPath(tc.svc.Path)
				}
				if tc.svc.OriginRequest != nil {
					rule.OriginRequest, _ = json.Marshal(tc.svc.OriginRequest)
				}
				spec.Rules = append(spec.Rules, rule)
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
		spec.Records = append(spec.Records, Record{DesiredRecord: messages.DesiredRecord{
			Name: host, Type: "CNAME", Content: ref.TunnelID + ".cfargotunnel.com", Proxied: true, TTL: 1,
			Credential: claims[0].svc.Credential, Tunnel: spec.Tunnel, Owner: owner(claims[0].svc.Service),
		}, Cleanup: cleanup})
		sortHost(&spec)
		rep.Hosts[host] = spec
	}

	for _, d := range res.DNS {
		if check, why := scope.refuses(d.Hostname); scoped && why != "" {
			fail(check, labels.KindDNS, d.Service, "hostname", "%s", why)
			continue
		}
		spec := rep.Hosts[d.Hostname]
		if len(spec.Rules) > 0 {
			fail(CheckRecordOnTunnelHost, labels.KindDNS, d.Service, "hostname", "hostname %s is a tunnel route on this container, and a tunnel hostname's DNS record is the tunnel's CNAME; remove this record or route another hostname", d.Hostname)
			continue
		}
		rec := record(d, addr)
		rec.Owner = owner(d.Service)
		if check, msg := recordClash(spec.Records, rec.DesiredRecord); msg != "" {
			fail(check, labels.KindDNS, d.Service, "hostname", "%s", msg)
			continue
		}
		if d.Access != "" && spec.Access != "" && d.Access != spec.Access {
			fail(CheckOneAccess, labels.KindDNS, d.Service, "access", "hostname %s is already protected by access template %q on this container; one hostname has one Access application", d.Hostname, spec.Access)
			continue
		}
		if d.Access != "" {
			spec.Access = d.Access
		}
		rec.Cleanup = d.Cleanup
		spec.Records = append(spec.Records, rec)
		sortHost(&spec)
		rep.Hosts[d.Hostname] = spec
	}
	slices.SortFunc(rep.Errors, func(a, b Error) int { return cmp.Compare(a.Key, b.Key) })
	return rep
}

// assignTunnel picks the tunnel for a tunnel service: its label, else the
// agent's default (main's config for the agent first, then what the agent
// announced), else the global default. An unknown name is an error, never a
// fallback. The name is "" with no error when it is the agent's announced
// one and that is unknown (Unknown.Announced).
func assignTunnel(source, label string, cfg Config) (string, Check, string) {
	name, from := label, "its tunnel label"
	if name == "" {
		if d := cfg.AgentDefaults[source]; d != "" {
			name, from = d, "main's default tunnel for this agent"
		} else if d := cfg.AnnouncedDefaults[source]; d != "" {
			name, from = d, "the default tunnel the agent announced"
		} else if cfg.Unknown.Announced {
			return "", 0, ""
		} else {
			name, from = cfg.DefaultTunnel, "the global default tunnel"
		}
	}
	if cfg.Unknown.Tunnels {
		return name, 0, ""
	}
	if len(cfg.Tunnels) == 0 {
		return "", CheckNoTunnel, "no tunnel is configured; set LABELGATE_CLOUDFLARE_ACCOUNT_ID and LABELGATE_CLOUDFLARE_TUNNEL_ID, or cloudflare.tunnels"
	}
	if _, ok := cfg.Tunnels[name]; !ok {
		return "", CheckUnknownTunnel, fmt.Sprintf("tunnel %q (from %s) is not configured; configured tunnels: %s", name, from, strings.Join(slices.Sorted(maps.Keys(cfg.Tunnels)), ", "))
	}
	return name, 0, ""
}

// refuses says why host is outside the scope, "" when it is inside.
func (s Scope) refuses(host string) (Check, string) {
	if len(s.Hostnames) > 0 && !slices.ContainsFunc(s.Hostnames, func(p string) bool { return hostMatches(p, host) }) {
		return CheckScopeHostname, fmt.Sprintf("hostname %s is outside this agent's allowed hostnames (%s); main refuses it", host, strings.Join(s.Hostnames, ", "))
	}
	if len(s.Zones) > 0 && !slices.ContainsFunc(s.Zones, func(z string) bool { return inZone(host, z) }) {
		return CheckScopeZone, fmt.Sprintf("hostname %s is outside this agent's allowed zones (%s); main refuses it", host, strings.Join(s.Zones, ", "))
	}
	return 0, ""
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

// recordClash checks a new record against the container's other records at
// the same name, with Cloudflare's rules: a CNAME stands alone, and a record
// may not be given twice.
func recordClash(existing []Record, r messages.DesiredRecord) (Check, string) {
	for _, e := range existing {
		switch {
		case e.Type == "CNAME" || r.Type == "CNAME":
			return CheckCNAMEAlone, fmt.Sprintf("hostname %s already has a %s record on this container, and a CNAME cannot share its name with any other record", r.Name, e.Type)
		case e.Type == r.Type && e.Content == r.Content && e.Unresolved == "" && r.Unresolved == "":
			return CheckDuplicateRecord, fmt.Sprintf("this container already declares the same %s record for %s (service %s)", r.Type, r.Name, e.Owner.Service)
		}
	}
	return 0, ""
}

func sortHost(s *Host) {
	slices.SortFunc(s.Rules, func(a, b Rule) int {
		return cmp.Or(cmp.Compare(a.Hostname, b.Hostname), cmp.Compare(b.Path, a.Path))
	})
	slices.SortFunc(s.Records, func(a, b Record) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Type, b.Type), cmp.Compare(a.Content, b.Content), cmp.Compare(a.Owner.Service, b.Owner.Service))
	})
}

// SameTemplate reports whether two Access templates are the same
// definition (a pinned template and a label's one, or two containers').
func SameTemplate(a, b labels.AccessTemplate) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
