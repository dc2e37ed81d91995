package config

import (
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ResolvedTunnels returns every tunnel main manages, by name: the entries of
// cloudflare.tunnels, with account_id inherited from cloudflare.account_id
// where empty and credential defaulting to "default", plus the tunnel named
// "default" made of cloudflare.account_id + cloudflare.tunnel_id unless
// cloudflare.tunnels already has one by that name.
func (c Config) ResolvedTunnels() map[string]Tunnel {
	out := make(map[string]Tunnel, len(c.Cloudflare.Tunnels)+1)
	for name, t := range c.Cloudflare.Tunnels {
		if t.AccountID == "" {
			t.AccountID = c.Cloudflare.AccountID
		}
		if t.Credential == "" {
			t.Credential = DefaultCredentialName
		}
		out[name] = t
	}
	if _, ok := out[DefaultTunnelName]; !ok && c.Cloudflare.TunnelID != "" {
		out[DefaultTunnelName] = Tunnel{
			AccountID:  c.Cloudflare.AccountID,
			TunnelID:   c.Cloudflare.TunnelID,
			Credential: DefaultCredentialName,
		}
	}
	return out
}

// ResolvedCredentials returns every Cloudflare credential by name: the
// entries of cloudflare.credentials plus the credential named "default" made
// of cloudflare.api_token (it has no zones: it is the fallback).
func (c Config) ResolvedCredentials() map[string]Credential {
	out := make(map[string]Credential, len(c.Cloudflare.Credentials)+1)
	maps.Copy(out, c.Cloudflare.Credentials)
	if _, ok := out[DefaultCredentialName]; !ok && c.Cloudflare.APIToken.IsSet() {
		out[DefaultCredentialName] = Credential{APIToken: c.Cloudflare.APIToken, APITokenFile: c.Cloudflare.APITokenFile}
	}
	return out
}

// CredentialFor picks the credential for a hostname when no label names one:
// the credential with the longest zone pattern that matches (ties go to the
// name that sorts first), else "default" if it exists. See CredentialRules.
func (c Config) CredentialFor(hostname string) (string, bool) {
	return c.credentialRules().Hostname(hostname)
}

// MatchZone reports whether hostname lies in the zone a pattern names. The
// pattern "example.com" matches example.com and every name below it;
// "*.example.com" matches the same names (the form is accepted for
// compatibility). Case and a trailing dot are ignored.
func MatchZone(pattern, hostname string) bool {
	zone := canonicalName(strings.TrimPrefix(pattern, "*."))
	h := canonicalName(hostname)
	return zone != "" && (h == zone || strings.HasSuffix(h, "."+zone))
}

// MatchHostname reports whether hostname matches an allowed_hostnames
// pattern. A pattern is either an exact name, which matches only that name,
// or "*." followed by a name, which matches every name at any depth below it
// (*.example.com matches a.example.com and a.b.example.com) but not the name
// itself (example.com). No other character is special: '*' anywhere else, '?'
// and '[' are literal. Case and a trailing dot are ignored.
func MatchHostname(pattern, hostname string) bool {
	p, h := canonicalName(pattern), canonicalName(hostname)
	if p == "" || h == "" {
		return false
	}
	parent, wildcard := strings.CutPrefix(p, "*.")
	if !wildcard || parent == "" {
		return p == h
	}
	below, ok := strings.CutSuffix(h, "."+parent)
	return ok && below != "" && !slices.Contains(strings.Split(below, "."), "")
}

func canonicalName(s string) string {
	return strings.ToLower(strings.TrimSuffix(s, "."))
}

// String renders the configuration as YAML with every secret shown as
// "[redacted]", so it is safe to print or log.
func (c Config) String() string {
	out, err := yaml.Marshal(c)
	if err != nil {
		return "config: cannot render: " + err.Error()
	}
	return string(out)
}

// GoString keeps %#v as safe as %v.
func (c Config) GoString() string { return c.String() }
