package labels

import (
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// dnsTypes are the record types Labelgate manages.
var dnsTypes = map[string]bool{"A": true, "AAAA": true, "CNAME": true, "TXT": true, "MX": true, "SRV": true, "CAA": true}

// caaTags are the CAA property tags Cloudflare accepts.
var caaTags = map[string]bool{"issue": true, "issuewild": true, "iodef": true}

// maxCommentLen is the longest DNS comment any Cloudflare plan allows; the
// zone actor checks the configured plan's limit, which may be lower.
const maxCommentLen = 500

// maxTXTLen is Cloudflare's limit on a TXT record's content.
const maxTXTLen = 2048

const dnsAllowed = "hostname, type, target, proxied, ttl, comment, priority, weight, port, flags, tag, cleanup, credential, access"

// dns validates one DNS service.
//
//	type   target forms           proxied   extra properties
//	A      IPv4, auto, container  yes       –
//	AAAA   IPv6, auto, container  yes       –
//	CNAME  hostname               yes       –
//	TXT    text                   no        –
//	MX     hostname               no        priority (required)
//	SRV    hostname or "."        no        priority, weight, port (required)
//	CAA    CAA value              no        flags (default 0), tag (default issue)
func (f *fields) dns() (DNSService, bool) {
	s := DNSService{Service: f.service, Type: "A", TTL: 1}

	if v, ok := f.ownProp("hostname"); ok {
		h, err := NormalizeHostname(v.value, true)
		if err != nil {
			f.errorf(v.key, "%v", err)
		}
		s.Hostname = h
	} else {
		f.errorf(f.key("hostname"), "hostname is required, for example %s=app.example.com", f.key("hostname"))
	}

	typeOK := true
	if v, ok := f.get("type"); ok {
		t := strings.ToUpper(strings.TrimSpace(v.value))
		if !dnsTypes[t] {
			f.errorf(v.key, "record type %q is not supported; allowed: A, AAAA, CNAME, TXT, MX, SRV, CAA", v.value)
			typeOK = false
		}
		s.Type = t
	}

	proxiable := s.Type == "A" || s.Type == "AAAA" || s.Type == "CNAME"
	s.Proxied = proxiable
	if v, ok := f.get("proxied"); ok {
		b, err := parseBool(v.value)
		switch {
		case err != nil:
			f.errorf(v.key, "%v", err)
		case b && typeOK && !proxiable:
			f.errorf(v.key, "%s records cannot be proxied by Cloudflare; only A, AAAA and CNAME can", s.Type)
		}
		s.Proxied = b
	}

	if v, ok := f.get("ttl"); ok {
		t := strings.ToLower(strings.TrimSpace(v.value))
		if t != "auto" {
			n, err := strconv.Atoi(t)
			switch {
			case err != nil || (n != 1 && (n < 60 || n > 86400)):
				f.errorf(v.key, "ttl %q is invalid; use auto (or 1), or seconds from 60 to 86400", v.value)
			case s.Proxied && n != 1:
				f.errorf(v.key, "proxied records always have an automatic TTL; remove ttl or set proxied=false")
			default:
				s.TTL = n
			}
		}
	}

	if v, ok := f.get("comment"); ok {
		switch {
		case strings.ContainsAny(v.value, "\r\n"):
			f.errorf(v.key, "a DNS comment must be a single line")
		case len(v.value) > maxCommentLen:
			f.errorf(v.key, "the comment is %d characters; Cloudflare allows at most %d (100 on the Free plan)", len(v.value), maxCommentLen)
		default:
			s.Comment = v.value
		}
	}

	f.cleanupCredentialAccess(&s.Cleanup, &s.Credential, &s.Access)
	if typeOK {
		f.dnsTarget(&s)
		f.dnsExtras(&s)
	} else {
		for _, name := range []string{"target", "priority", "weight", "port", "flags", "tag"} {
			f.get(name) // consumed: cannot be judged without a valid type
		}
	}
	f.unknown(dnsAllowed)
	return s, !f.failed
}

// cleanupCredentialAccess reads the three properties dns and tunnel share.
func (f *fields) cleanupCredentialAccess(cleanup *bool, credential, access *string) {
	if v, ok := f.get("cleanup"); ok {
		b, err := parseBool(v.value)
		if err != nil {
			f.errorf(v.key, "%v", err)
		}
		*cleanup = b
	}
	if v, ok := f.get("credential"); ok {
		c := strings.TrimSpace(v.value)
		if !refNameRE.MatchString(c) {
			f.errorf(v.key, "credential name %q is invalid; use letters, digits, dots, hyphens and underscores", v.value)
		}
		*credential = c
	}
	if v, ok := f.get("access"); ok {
		a := strings.TrimSpace(v.value)
		if !serviceNameRE.MatchString(a) || a == "default" {
			f.errorf(v.key, "access template name %q is invalid; use the <name> of a %s.access.<name>.* block", v.value, f.p.prefix)
		}
		*access = a
	}
}

func (f *fields) dnsTarget(s *DNSService) {
	v, set := f.get("target")
	raw := strings.TrimSpace(v.value)
	if !set {
		raw = "auto"
	}
	lower := strings.ToLower(raw)
	key := v.key
	if !set {
		key = f.key("target")
	}
	ipType := s.Type == "A" || s.Type == "AAAA"

	switch {
	case lower == "auto" || lower == "container" || strings.HasPrefix(lower, "container:"):
		if !ipType {
			if !set {
				f.errorf(key, "target is required for %s records", s.Type)
			} else {
				f.errorf(key, "target %q works only for A and AAAA records; give the %s content literally", raw, s.Type)
			}
			return
		}
		if lower == "auto" {
			s.Target = Target{Kind: TargetAuto}
			return
		}
		network := ""
		if strings.HasPrefix(lower, "container:") {
			network = raw[len("container:"):]
			if !refNameRE.MatchString(network) {
				f.errorf(key, "network name %q in target is invalid; use container or container:<docker network>", network)
				return
			}
		}
		s.Target = Target{Kind: TargetContainer, Network: network}
		if s.Proxied {
			f.errorf(key, "a container address is private and Cloudflare's proxy cannot reach it; set proxied=false for this record")
		}
		return
	case raw == "":
		f.errorf(key, "target is empty; give the record content")
		return
	}

	switch s.Type {
	case "A", "AAAA":
		ip, err := netip.ParseAddr(raw)
		want4 := s.Type == "A"
		if err != nil || ip.Zone() != "" || want4 != ip.Is4() || ip.Is4In6() {
			family := "an IPv4"
			if !want4 {
				family = "an IPv6"
			}
			f.errorf(key, "target %q is not %s address; an %s record needs %s address, auto or container", raw, family, s.Type, family)
			return
		}
		if s.Proxied && !ip.IsGlobalUnicast() || s.Proxied && ip.IsPrivate() {
			f.errorf(key, "%s is not a public address and Cloudflare's proxy cannot reach it; set proxied=false", ip)
		}
		s.Target = Target{Kind: TargetLiteral, Value: ip.String()}
	case "CNAME", "MX":
		h, err := NormalizeHostname(raw, false)
		if err != nil {
			f.errorf(key, "target must be a hostname: %v", err)
			return
		}
		s.Target = Target{Kind: TargetLiteral, Value: h}
	case "SRV":
		if raw == "." {
			s.Target = Target{Kind: TargetLiteral, Value: "."}
			return
		}
		h, err := NormalizeHostname(raw, false)
		if err != nil {
			f.errorf(key, "target must be a hostname (or . for \"no service\"): %v", err)
			return
		}
		s.Target = Target{Kind: TargetLiteral, Value: h}
	case "TXT":
		if len(v.value) > maxTXTLen {
			f.errorf(key, "TXT content is %d characters; Cloudflare allows at most %d", len(v.value), maxTXTLen)
			return
		}
		s.Target = Target{Kind: TargetLiteral, Value: v.value}
	case "CAA":
		s.Target = Target{Kind: TargetLiteral, Value: raw}
	}
}

// dnsExtras handles priority/weight/port/flags/tag, which belong to some
// types only, and the SRV and CAA rules that span several properties.
func (f *fields) dnsExtras(s *DNSService) {
	number := func(name string, max uint64, types ...string) (uint64, bool) {
		v, ok := f.ownProp(name)
		if !ok {
			return 0, false
		}
		if !slices.Contains(types, s.Type) {
			f.errorf(v.key, "%s applies only to %s records, not %s", name, strings.Join(types, " and "), s.Type)
			return 0, false
		}
		n, err := parseUint(v.value, max)
		if err != nil {
			f.errorf(v.key, "%s: %v", name, err)
			return 0, false
		}
		return n, true
	}
	if n, ok := number("priority", 65535, "MX", "SRV"); ok {
		s.Priority = ptr(uint16(n))
	}
	if n, ok := number("weight", 65535, "SRV"); ok {
		s.Weight = ptr(uint16(n))
	}
	if n, ok := number("port", 65535, "SRV"); ok {
		s.Port = ptr(uint16(n))
	}
	if n, ok := number("flags", 255, "CAA"); ok {
		s.Flags = ptr(uint8(n))
	}
	if v, ok := f.ownProp("tag"); ok {
		t := strings.ToLower(strings.TrimSpace(v.value))
		switch {
		case s.Type != "CAA":
			f.errorf(v.key, "tag applies only to CAA records, not %s", s.Type)
		case !caaTags[t]:
			f.errorf(v.key, "CAA tag %q is not supported; allowed: issue, issuewild, iodef", v.value)
		default:
			s.Tag = t
		}
	}

	switch s.Type {
	case "MX":
		if s.Priority == nil && !f.failedOn("priority") {
			f.errorf(f.key("priority"), "priority is required for MX records (0 to 65535, lower is preferred)")
		}
	case "SRV":
		labels := strings.Split(s.Hostname, ".")
		if s.Hostname != "" && (len(labels) < 3 || !strings.HasPrefix(labels[0], "_") || !strings.HasPrefix(labels[1], "_")) {
			f.errorf(f.own["hostname"].key, "an SRV hostname has the form _service._proto.name, for example _xmpp._tcp.example.com")
		}
		for _, name := range []string{"priority", "weight", "port"} {
			if _, ok := f.own[name]; !ok {
				f.errorf(f.key(name), "%s is required for SRV records (0 to 65535)", name)
			}
		}
	case "CAA":
		if s.Flags == nil && !f.failedOn("flags") {
			s.Flags = ptr(uint8(0))
		}
		if s.Tag == "" && !f.failedOn("tag") {
			s.Tag = "issue"
		}
		f.caaValue(s)
	}
}

// failedOn reports whether the service has the property at all (then any
// problem with it was reported already and a "required" error would repeat it).
func (f *fields) failedOn(name string) bool {
	_, ok := f.own[name]
	return ok
}

// caaValue checks the CAA value against its tag (RFC 8659): issue and
// issuewild take an issuer domain (or ";" for none) with optional
// parameters, iodef a mailto: or http(s) URL.
func (f *fields) caaValue(s *DNSService) {
	v := s.Target.Value
	if v == "" {
		return
	}
	key := f.key("target")
	switch s.Tag {
	case "issue", "issuewild":
		issuer, _, _ := strings.Cut(v, ";")
		issuer = strings.TrimSpace(issuer)
		if issuer == "" {
			return // ";" forbids issuance
		}
		h, err := NormalizeHostname(issuer, false)
		if err != nil {
			f.errorf(key, "a CAA %s value is an issuer domain such as letsencrypt.org (or ; to forbid issuance): %v", s.Tag, err)
			return
		}
		s.Target.Value = h + v[len(strings.SplitN(v, ";", 2)[0]):]
	case "iodef":
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "mailto" && u.Scheme != "http" && u.Scheme != "https") || (u.Opaque == "" && u.Host == "") {
			f.errorf(key, "a CAA iodef value is a mailto:, http:// or https:// URL, not %q", v)
		}
	}
}
