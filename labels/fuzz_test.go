package labels

import (
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary keys and values to the parser. It must never
// panic, and what it accepts must be stable: hostnames and origin services
// it returns validate again to themselves, and every error names a key that
// was given (or the service's missing property under the prefix).
func FuzzParse(f *testing.F) {
	seeds := [][4]string{
		{"labelgate.tunnel.web.hostname", "www.example.com", "labelgate.tunnel.web.service", "http://app:80"},
		{"labelgate.dns.x.hostname", "_xmpp._tcp.example.com", "labelgate.dns.x.type", "SRV"},
		{"labelgate.dns.c.type", "CAA", "labelgate.dns.c.target", "letsencrypt.org; validationmethods=dns-01"},
		{"labelgate.tunnel.w.origin.ip_rules", "allow 10.0.0.0/8 80,443; deny 0.0.0.0/0", "labelgate.tunnel.w.hostname", "*.bücher.example"},
		{"labelgate.access.a.policy.include.emails", "a@example.com,b@example.com", "labelgate.access.a.policy.decision", "service_auth"},
		{"labelgate.dns.default.ttl", "300", "labelgate.dns.d.target", "container:net"},
		{"labelgate.tunnel.w.origin.connect_timeout", "1m30s", "labelgate.tunnel.w.path", "^/api(/|$)"},
		{"labelgate..", "", "labelgate.dns..hostname", "."},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		in := map[string]string{k1: v1, k2: v2}
		res := Parse(in, Options{})
		for _, e := range res.Errors {
			if !strings.HasPrefix(e.Key, DefaultPrefix+".") {
				t.Fatalf("error names key %q outside the prefix", e.Key)
			}
			if e.Message == "" {
				t.Fatalf("error for %q has no message", e.Key)
			}
		}
		for _, d := range res.DNS {
			if h, err := NormalizeHostname(d.Hostname, true); err != nil || h != d.Hostname {
				t.Fatalf("accepted DNS hostname %q does not normalise to itself: %q, %v", d.Hostname, h, err)
			}
		}
		for _, tn := range res.Tunnels {
			if h, err := NormalizeHostname(tn.Hostname, true); err != nil || h != tn.Hostname {
				t.Fatalf("accepted tunnel hostname %q does not normalise to itself: %q, %v", tn.Hostname, h, err)
			}
			if o, err := ValidateOriginService(tn.Origin); err != nil || o != tn.Origin {
				t.Fatalf("accepted origin %q does not validate to itself: %q, %v", tn.Origin, o, err)
			}
		}
		for _, a := range res.Access {
			if len(a.Policy.Include) == 0 {
				t.Fatalf("template %q accepted without include rules", a.Name)
			}
		}
	})
}
