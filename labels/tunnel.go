package labels

import (
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

const tunnelAllowed = "hostname, service, tunnel, path, access, cleanup, credential, origin.<key>"

// tunnel validates one tunnel service: an ingress rule.
func (f *fields) tunnel() (TunnelService, bool) {
	s := TunnelService{Service: f.service}

	if v, ok := f.ownProp("hostname"); ok {
		h, err := NormalizeHostname(v.value, true)
		if err != nil {
			f.errorf(v.key, "%v", err)
		}
		s.Hostname = h
	} else {
		f.errorf(f.key("hostname"), "hostname is required, for example %s=app.example.com", f.key("hostname"))
	}

	if v, ok := f.ownProp("service"); ok {
		origin, err := ValidateOriginService(v.value)
		if err != nil {
			f.errorf(v.key, "%v", err)
		}
		s.Origin = origin
	} else {
		f.errorf(f.key("service"), "service is required: where cloudflared sends the traffic, for example http://web:80")
	}

	if v, ok := f.get("tunnel"); ok {
		t := strings.TrimSpace(v.value)
		if !refNameRE.MatchString(t) {
			f.errorf(v.key, "tunnel name %q is invalid; use the name of a configured tunnel (letters, digits, dots, hyphens, underscores)", v.value)
		}
		s.Tunnel = t
	}

	if v, ok := f.ownProp("path"); ok {
		if _, err := regexp.Compile(v.value); err != nil {
			f.errorf(v.key, "path is a regular expression that cloudflared matches against the request path, and this one does not compile: %v", err)
		}
		s.Path = v.value
	}

	// A route goes with its container by default (after the grace), as a
	// reverse proxy's route does; cleanup: "false" keeps it.
	s.Cleanup = true
	f.cleanupCredentialAccess(&s.Cleanup, &s.Credential, &s.Access)
	s.OriginRequest = f.originRequest()
	f.unknown(tunnelAllowed)
	return s, !f.failed
}

// Origin service forms cloudflared accepts besides URLs (ingress.go).
var originKeywords = map[string]bool{
	"hello_world": true, "hello-world": true, "helloworld": true,
	"bastion": true, "socks-proxy": true,
}

// originSchemes are the URL schemes Labelgate accepts. cloudflared itself
// takes any scheme with a host (non-HTTP ones as TCP over WebSocket); this
// list is the documented set, so a typo such as htp:// is caught.
var originSchemes = map[string]bool{
	"http": true, "https": true, "ws": true, "wss": true,
	"tcp": true, "ssh": true, "rdp": true, "smb": true, "udp": true,
}

// ValidateOriginService checks an ingress service the way cloudflared's
// ingress validation does and returns it trimmed.
func ValidateOriginService(v string) (string, error) {
	s := strings.TrimSpace(v)
	switch {
	case s == "":
		return "", fmt.Errorf("service is empty; give a URL such as http://web:80")
	case originKeywords[s]:
		return s, nil
	case strings.HasPrefix(s, "unix:") || strings.HasPrefix(s, "unix+tls:"):
		_, path, _ := strings.Cut(s, ":")
		if path == "" {
			return "", fmt.Errorf("service %q names no socket; use unix:/path/to/socket", v)
		}
		return s, nil
	case strings.HasPrefix(s, "http_status:"):
		code, err := strconv.Atoi(strings.TrimPrefix(s, "http_status:"))
		if err != nil || code < 100 || code > 999 {
			return "", fmt.Errorf("service %q: http_status takes a status code from 100 to 999, as in http_status:404", v)
		}
		return "http_status:" + strconv.Itoa(code), nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Hostname() == "" {
		return "", fmt.Errorf("service %q is not valid; use scheme://host[:port] (http, https, ws, wss, tcp, ssh, rdp, smb, udp), unix:/path, http_status:NNN, hello_world, bastion or socks-proxy", v)
	}
	if !originSchemes[u.Scheme] {
		return "", fmt.Errorf("service %q has the scheme %q; allowed: http, https, ws, wss, tcp, ssh, rdp, smb, udp", v, u.Scheme)
	}
	if u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("service %q has a path; cloudflared does not proxy to a different path on the origin (the request's own path is used), so give only scheme://host[:port]", v)
	}
	if u.User != nil {
		return "", fmt.Errorf("service %q carries credentials; cloudflared does not use them", v)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("service %q has an invalid port", v)
		}
	}
	return s, nil
}

// originKeys maps every cloudflared originRequest key, in the snake_case used
// in labels, to a setter that parses the label value into the API's form.
// ip_rules and access.* have their own shapes; see originRequest.
var originKeys = map[string]func(*OriginRequest, string) error{
	"connect_timeout":          seconds(func(o *OriginRequest) **int64 { return &o.ConnectTimeout }),
	"tls_timeout":              seconds(func(o *OriginRequest) **int64 { return &o.TLSTimeout }),
	"tcp_keepalive":            seconds(func(o *OriginRequest) **int64 { return &o.TCPKeepAlive }),
	"tcp_keep_alive":           seconds(func(o *OriginRequest) **int64 { return &o.TCPKeepAlive }),
	"keep_alive_timeout":       seconds(func(o *OriginRequest) **int64 { return &o.KeepAliveTimeout }),
	"keep_alive_connections":   integer(1<<31, func(o *OriginRequest) **int64 { return &o.KeepAliveConnections }),
	"proxy_port":               integer(65535, func(o *OriginRequest) **int64 { return &o.ProxyPort }),
	"no_happy_eyeballs":        boolean(func(o *OriginRequest) **bool { return &o.NoHappyEyeballs }),
	"match_sni_to_host":        boolean(func(o *OriginRequest) **bool { return &o.MatchSNIToHost }),
	"no_tls_verify":            boolean(func(o *OriginRequest) **bool { return &o.NoTLSVerify }),
	"disable_chunked_encoding": boolean(func(o *OriginRequest) **bool { return &o.DisableChunkedEncoding }),
	"bastion_mode":             boolean(func(o *OriginRequest) **bool { return &o.BastionMode }),
	"http2_origin":             boolean(func(o *OriginRequest) **bool { return &o.HTTP2Origin }),
	"ca_pool":                  text(nil, func(o *OriginRequest) **string { return &o.CAPool }),
	"http_host_header":         text(checkHostHeader, func(o *OriginRequest) **string { return &o.HTTPHostHeader }),
	"origin_server_name":       text(checkServerName, func(o *OriginRequest) **string { return &o.OriginServerName }),
	"proxy_address":            text(checkProxyAddress, func(o *OriginRequest) **string { return &o.ProxyAddress }),
	"proxy_type":               text(checkProxyType, func(o *OriginRequest) **string { return &o.ProxyType }),
}

func seconds(field func(*OriginRequest) **int64) func(*OriginRequest, string) error {
	return func(o *OriginRequest, v string) error {
		n, err := parseSeconds(v)
		if err == nil {
			*field(o) = &n
		}
		return err
	}
}

func integer(max uint64, field func(*OriginRequest) **int64) func(*OriginRequest, string) error {
	return func(o *OriginRequest, v string) error {
		n, err := parseUint(v, max)
		if err == nil {
			*field(o) = ptr(int64(n))
		}
		return err
	}
}

func boolean(field func(*OriginRequest) **bool) func(*OriginRequest, string) error {
	return func(o *OriginRequest, v string) error {
		b, err := parseBool(v)
		if err == nil {
			*field(o) = &b
		}
		return err
	}
}

func text(check func(string) error, field func(*OriginRequest) **string) func(*OriginRequest, string) error {
	return func(o *OriginRequest, v string) error {
		s := strings.TrimSpace(v)
		if check != nil {
			if err := check(s); err != nil {
				return err
			}
		}
		*field(o) = &s
		return nil
	}
}

func checkProxyType(s string) error {
	if s != "" && s != "socks" {
		return fmt.Errorf("proxy_type %q is invalid; use socks, or empty for the regular proxy", s)
	}
	return nil
}

func checkProxyAddress(s string) error {
	if _, err := netip.ParseAddr(s); err != nil {
		return fmt.Errorf("proxy_address %q is not an IP address, such as 127.0.0.1", s)
	}
	return nil
}

func checkServerName(s string) error {
	if _, err := NormalizeHostname(s, false); err != nil {
		return fmt.Errorf("origin_server_name: %v", err)
	}
	return nil
}

func checkHostHeader(s string) error {
	if s == "" || strings.ContainsAny(s, " \r\n") {
		return fmt.Errorf("http_host_header %q must be a non-empty host without spaces or line breaks", s)
	}
	return nil
}

func originKeyList() string {
	keys := slices.Sorted(maps.Keys(originKeys))
	keys = append(keys, "ip_rules", "access.required", "access.team_name", "access.aud_tag")
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}

// originRequest collects origin.* from the defaults block and the service
// (the service wins per key) into the API's form.
func (f *fields) originRequest() *OriginRequest {
	props := map[string]prop{}
	for name, p := range f.def {
		if strings.HasPrefix(name, "origin.") {
			props[strings.TrimPrefix(name, "origin.")] = p
		}
	}
	for name, p := range f.own {
		if strings.HasPrefix(name, "origin.") {
			f.used[name] = true
			props[strings.TrimPrefix(name, "origin.")] = p
		}
	}
	if len(props) == 0 {
		return nil
	}
	if _, a := props["tcp_keepalive"]; a {
		if p, b := props["tcp_keep_alive"]; b {
			f.errorf(p.key, "tcp_keepalive and tcp_keep_alive are the same setting; set only one")
		}
	}

	var or OriginRequest
	for _, name := range slices.Sorted(maps.Keys(props)) {
		p := props[name]
		switch name {
		case "ip_rules":
			rules, err := parseIPRules(p.value)
			if err != nil {
				f.errorf(p.key, "%v", err)
			}
			or.IPRules = rules
			continue
		case "access.required", "access.team_name", "access.aud_tag":
			if or.Access == nil {
				or.Access = &OriginAccess{}
			}
			f.originAccess(or.Access, name, p)
			continue
		}
		set, ok := originKeys[name]
		if !ok {
			f.errorf(p.key, "unknown origin setting %q; allowed: %s", name, originKeyList())
			continue
		}
		if err := set(&or, p.value); err != nil {
			f.errorf(p.key, "%v", err)
		}
	}
	if or.Access != nil && or.Access.TeamName == "" && (len(or.Access.AUDTag) > 0 || or.Access.Required != nil) {
		f.errorf(f.key("origin.access.team_name"), "origin.access needs team_name (your Zero Trust team name) as well")
	}
	return &or
}

func (f *fields) originAccess(a *OriginAccess, name string, p prop) {
	switch name {
	case "access.required":
		b, err := parseBool(p.value)
		if err != nil {
			f.errorf(p.key, "%v", err)
		}
		a.Required = &b
	case "access.team_name":
		a.TeamName = strings.TrimSpace(p.value)
		if a.TeamName == "" {
			f.errorf(p.key, "team_name is empty")
		}
	case "access.aud_tag":
		tags, err := splitList(p.value)
		if err != nil {
			f.errorf(p.key, "aud_tag is a comma-separated list of Access application audience tags: %v", err)
		}
		a.AUDTag = tags
	}
}

// parseIPRules reads `allow 10.0.0.0/8 80,443; deny 0.0.0.0/0`: rules
// separated by semicolons, each a verdict, a CIDR prefix and optional ports.
func parseIPRules(v string) ([]IPRule, error) {
	const form = "ip_rules is a list of rules separated by ';', each `allow|deny <CIDR> [port,port…]`, for example: allow 10.0.0.0/8 80,443; deny 0.0.0.0/0"
	var rules []IPRule
	for _, part := range strings.Split(v, ";") {
		fieldsOf := strings.Fields(part)
		if len(fieldsOf) == 0 {
			continue
		}
		if len(fieldsOf) > 3 {
			return nil, fmt.Errorf("rule %q has too many parts; %s", strings.TrimSpace(part), form)
		}
		var r IPRule
		switch strings.ToLower(fieldsOf[0]) {
		case "allow":
			r.Allow = true
		case "deny":
		default:
			return nil, fmt.Errorf("rule %q must start with allow or deny; %s", strings.TrimSpace(part), form)
		}
		if len(fieldsOf) < 2 {
			return nil, fmt.Errorf("rule %q has no prefix; %s", strings.TrimSpace(part), form)
		}
		pfx, err := netip.ParsePrefix(fieldsOf[1])
		if err != nil {
			return nil, fmt.Errorf("rule %q: %q is not a CIDR prefix such as 10.0.0.0/8", strings.TrimSpace(part), fieldsOf[1])
		}
		r.Prefix = pfx.String()
		if len(fieldsOf) == 3 {
			ports, err := splitList(fieldsOf[2])
			if err != nil {
				return nil, fmt.Errorf("rule %q: %v", strings.TrimSpace(part), err)
			}
			for _, p := range ports {
				n, err := parseUint(p, 65535)
				if err != nil || n == 0 {
					return nil, fmt.Errorf("rule %q: port %q must be 1 to 65535", strings.TrimSpace(part), p)
				}
				r.Ports = append(r.Ports, int64(n))
			}
		}
		rules = append(rules, r)
	}
	if len(rules) == 0 {
		return nil, fmt.Errorf("no rules given; %s", form)
	}
	return rules, nil
}
