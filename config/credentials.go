package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// CredentialRules says which Cloudflare credential each consumer of the API
// uses. It is the one place these rules live: validation, main's actors and
// the HTTP surface all ask it, so they cannot disagree.
//
//   - a tunnel: its cloudflare.tunnels.<name>.credential, "default" when
//     empty (ResolvedTunnels);
//   - Access: see AccessTarget;
//   - a DNS record: Record, which picks the credential whose zone list is
//     searched for the zone that contains the record;
//   - a DNS zone: Zone, which picks the one credential that reconciles the
//     zone when several credentials see it.
type CredentialRules struct {
	creds   map[string]Credential
	names   []string // sorted
	tunnels map[string]Tunnel
	// Access is where Access applications live and the credential that
	// manages them; AccountID is empty when no account is known.
	Access AccessTarget
}

// AccessTarget is where main keeps Access applications and reusable
// policies: one account, and the credential whose calls manage it.
type AccessTarget struct {
	// AccountID is cloudflare.account_id, else the default tunnel's account;
	// empty when neither is known (Access labels cannot be applied).
	AccountID string
	// Credential manages the account's Access objects.
	Credential string
	// From says how Credential was chosen, for logs and errors.
	From string
}

// CredentialRules resolves every consumer's credential. The error says why
// Access has no credential (validation reports it at start-up, so a loaded
// configuration never returns one).
func (c Config) CredentialRules() (CredentialRules, error) {
	r := c.credentialRules()
	t, _, err := c.resolveAccess(r)
	r.Access = t
	return r, err
}

func (c Config) credentialRules() CredentialRules {
	creds := c.ResolvedCredentials()
	return CredentialRules{creds: creds, names: slices.Sorted(maps.Keys(creds)), tunnels: c.ResolvedTunnels()}
}

// Names lists every configured credential, sorted.
func (r CredentialRules) Names() []string { return slices.Clone(r.names) }

// Has reports whether a credential of that name is configured.
func (r CredentialRules) Has(name string) bool {
	_, ok := r.creds[name]
	return ok
}

// Hostname picks the credential of a hostname by its zone patterns: the
// credential with the longest cloudflare.credentials.<name>.zones pattern
// that matches (ties go to the name that sorts first), else "default" if it
// is configured. A credential without zones is never picked here.
func (r CredentialRules) Hostname(hostname string) (string, bool) {
	best, bestLen := "", -1
	for _, name := range r.names {
		for _, z := range r.creds[name].Zones {
			if MatchZone(z, hostname) && len(z) > bestLen {
				best, bestLen = name, len(z)
			}
		}
	}
	if best != "" {
		return best, true
	}
	if r.Has(DefaultCredentialName) {
		return DefaultCredentialName, true
	}
	return "", false
}

// Record picks the credential a DNS record is looked up with (the zone that
// contains it is searched among the zones this credential sees): the
// record's own credential label, else Hostname, else, for the CNAME of a
// tunnel hostname, the tunnel's credential. Empty when none applies: the
// record names no credential, no zone pattern matches it, there is no
// default credential and it is not a tunnel's CNAME.
func (r CredentialRules) Record(hostname, label, tunnel string) string {
	if label != "" {
		return label
	}
	if c, ok := r.Hostname(hostname); ok {
		return c
	}
	if t, ok := r.tunnels[tunnel]; ok && tunnel != "" {
		return t.Credential
	}
	return ""
}

// Zone picks the one credential that reconciles a DNS zone, among the
// credentials that see it (visible: those whose zone list holds it): the one
// with the longest zones pattern that covers the zone's name (ties go to the
// name that sorts first), else "default" if it sees the zone, else the first
// by name with a zones pattern inside the zone (lab.example.com in zone
// example.com), else the first by name. So a zone two credentials see is
// written by one of them only, the same one every time, and a credential
// without zones only when no other sees the zone. Empty when visible is
// empty.
func (r CredentialRules) Zone(zone string, visible []string) string {
	if len(visible) == 0 {
		return ""
	}
	sorted := slices.Sorted(slices.Values(visible))
	best, bestLen := "", -1
	for _, name := range sorted {
		for _, z := range r.creds[name].Zones {
			if MatchZone(z, zone) && len(z) > bestLen {
				best, bestLen = name, len(z)
			}
		}
	}
	if best != "" {
		return best
	}
	if slices.Contains(sorted, DefaultCredentialName) {
		return DefaultCredentialName
	}
	for _, name := range sorted {
		for _, z := range r.creds[name].Zones {
			if MatchZone(zone, strings.TrimPrefix(z, "*.")) {
				return name
			}
		}
	}
	return sorted[0]
}

// errAccessViaTunnel marks an Access credential taken from a tunnel whose
// credential is not configured: the tunnel's own check reports it.
var errAccessViaTunnel = errors.New("Access would use a tunnel's credential, which is not configured")

// resolveAccess finds the Access account and its credential:
//
//  1. the account is cloudflare.account_id, else the default tunnel's;
//     without either, Access is off (zero target, no error);
//  2. the credential is access.credential when set; else, when the account
//     is cloudflare.account_id, "default" (cloudflare.api_token) when it is
//     configured; else the default tunnel's credential when that tunnel is
//     in the account; else the one credential every tunnel of the account
//     uses; else the only configured credential.
//
// Otherwise it fails with the setting to fix (key) and why.
func (c Config) resolveAccess(r CredentialRules) (AccessTarget, string, error) {
	const key = "access.credential"
	account, fromTunnel := c.Cloudflare.AccountID, false
	dt, hasDT := r.tunnels[c.DefaultTunnel]
	if account == "" && hasDT && dt.AccountID != "" {
		account, fromTunnel = dt.AccountID, true
	}
	if account == "" {
		if c.Access.Credential != "" {
			return AccessTarget{}, key, errors.New("access.credential is set, but Access has no account: set cloudflare.account_id (or configure the default tunnel, whose account is then used)")
		}
		return AccessTarget{}, "", nil
	}
	t := AccessTarget{AccountID: account}
	var inAccount []string // tunnels in the account, for the error
	used := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(r.tunnels)) {
		if tu := r.tunnels[name]; tu.AccountID == account {
			inAccount = append(inAccount, fmt.Sprintf("%s uses %s", name, tu.Credential))
			used[tu.Credential] = true
		}
	}
	switch {
	case c.Access.Credential != "":
		t.Credential, t.From = c.Access.Credential, "access.credential"
		if !r.Has(t.Credential) {
			return AccessTarget{}, key, fmt.Errorf("access.credential names %q, which is not configured; configured: %s", t.Credential, listNames(r.names))
		}
		return t, "", nil
	case !fromTunnel && r.Has(DefaultCredentialName):
		t.Credential, t.From = DefaultCredentialName, "the default credential (cloudflare.api_token)"
	case hasDT && dt.AccountID == account:
		t.Credential, t.From = dt.Credential, "the credential of the default tunnel "+c.DefaultTunnel
	case len(used) == 1:
		t.Credential = slices.Collect(maps.Keys(used))[0]
		t.From = "the credential of every tunnel in the account"
	case len(r.names) == 1:
		t.Credential, t.From = r.names[0], "the only configured credential"
	default:
		why := "no tunnel in that account names one"
		if len(inAccount) > 0 {
			why = "its tunnels use several (" + strings.Join(inAccount, ", ") + ")"
		}
		return AccessTarget{}, key, fmt.Errorf("Access applications live in account %s (cloudflare.account_id), and no credential is known to manage them: there is no default credential (cloudflare.api_token) and %s; set access.credential to the credential that manages the account; configured: %s",
			account, why, listNames(r.names))
	}
	if !r.Has(t.Credential) {
		// Only a tunnel's credential can be missing here, and the tunnel's
		// own check names it.
		return AccessTarget{}, "", errAccessViaTunnel
	}
	return t, "", nil
}

func listNames(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
