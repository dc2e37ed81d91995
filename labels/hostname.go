package labels

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/idna"
)

// idnaProfile maps Unicode names to punycode the way lookups do (UTS #46),
// but without STD3's letter-digit-hyphen rule so that service labels such as
// `_xmpp._tcp` survive; our own label check below applies instead.
var idnaProfile = idna.New(idna.MapForLookup(), idna.StrictDomainName(false), idna.BidiRule())

// NormalizeHostname validates a DNS name and returns it in the form
// Cloudflare stores: lower case, ASCII (IDNs as punycode), no trailing dot.
// A wildcard is allowed only as the whole leftmost label (`*.example.com`)
// and only when allowWildcard is set.
func NormalizeHostname(name string, allowWildcard bool) (string, error) {
	h := strings.TrimSuffix(strings.TrimSpace(name), ".")
	if h == "" {
		return "", errors.New("hostname is empty")
	}
	wildcard := false
	if strings.HasPrefix(h, "*.") {
		if !allowWildcard {
			return "", fmt.Errorf("%q: a wildcard is not allowed here", name)
		}
		wildcard, h = true, h[2:]
	}
	if strings.Contains(h, "*") {
		return "", fmt.Errorf("%q: a wildcard may only be the whole leftmost label, as in *.example.com", name)
	}
	if strings.ContainsAny(h, ":/ ") {
		return "", fmt.Errorf("%q is not a hostname: no scheme, port, path or spaces", name)
	}
	ascii := strings.ToLower(h)
	if !isASCII(h) {
		var err error
		if ascii, err = idnaProfile.ToASCII(h); err != nil {
			return "", fmt.Errorf("%q is not a valid internationalised hostname: %v", name, err)
		}
	}
	if err := checkLabels(ascii); err != nil {
		return "", fmt.Errorf("%q: %v", name, err)
	}
	if wildcard {
		ascii = "*." + ascii
	}
	if len(ascii) > 253 {
		return "", fmt.Errorf("%q is longer than 253 characters", name)
	}
	return ascii, nil
}

// checkLabels applies the letter-digit-hyphen rule (with underscores, which
// SRV, TXT and DKIM names use) to every label of an ASCII name.
func checkLabels(h string) error {
	parts := strings.Split(h, ".")
	if len(parts) < 2 {
		return errors.New("a fully qualified name needs at least two labels, such as app.example.com")
	}
	if tld := parts[len(parts)-1]; strings.Trim(tld, "0123456789") == "" && tld != "" {
		return errors.New("the last label is all digits, so this is an IP address or not a hostname")
	}
	for _, p := range parts {
		if p == "" {
			return errors.New("empty label (two dots in a row)")
		}
		if len(p) > 63 {
			return fmt.Errorf("label %q is longer than 63 characters", p)
		}
		if p[0] == '-' || p[len(p)-1] == '-' {
			return fmt.Errorf("label %q may not start or end with a hyphen", p)
		}
		for i := 0; i < len(p); i++ {
			c := p[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("label %q has the character %q; use letters, digits, hyphens and underscores", p, c)
			}
		}
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
