package labels

import (
	"fmt"
	"maps"
	"net/mail"
	"net/netip"
	"slices"
	"strings"
	"time"
)

const accessAllowed = "app_name, session_duration, policy.decision, policy.name, policy.include.<selector>, policy.require.<selector>, policy.exclude.<selector>"

// Access selectors, as written in labels.
const (
	SelectorEmails         = "emails"
	SelectorEmailsEndingIn = "emails_ending_in"
	SelectorIPRanges       = "ip_ranges"
	SelectorCountry        = "country"
	SelectorEveryone       = "everyone"
	SelectorServiceToken   = "service_token"
	SelectorAccessGroups   = "access_groups"
	SelectorCertificate    = "certificate"
	SelectorLoginMethods   = "login_methods"
)

// selectorCheck validates and normalises one value of a selector; selectors
// that take no value have a nil check.
var selectorCheck = map[string]func(string) (string, error){
	SelectorEmails:         checkEmail,
	SelectorEmailsEndingIn: checkEmailDomain,
	SelectorIPRanges:       checkIPRange,
	SelectorCountry:        checkCountry,
	SelectorEveryone:       nil,
	SelectorServiceToken:   checkUUID("service token id"),
	SelectorAccessGroups:   checkUUID("Access group id"),
	SelectorCertificate:    nil,
	SelectorLoginMethods:   checkUUID("identity provider id"),
}

// identitySelectors need a user identity, so a service_auth (non_identity)
// policy cannot use them.
var identitySelectors = map[string]bool{
	SelectorEmails: true, SelectorEmailsEndingIn: true, SelectorAccessGroups: true, SelectorLoginMethods: true,
}

// decisions maps the label's words to Cloudflare's.
var decisions = map[string]string{"allow": "allow", "block": "deny", "bypass": "bypass", "service_auth": "non_identity"}

func selectorList() string { return strings.Join(slices.Sorted(maps.Keys(selectorCheck)), ", ") }

// access validates one access template.
func (f *fields) access() (AccessTemplate, bool) {
	t := AccessTemplate{
		Name:            f.service,
		AppName:         "labelgate-" + f.service,
		SessionDuration: "24h",
		Policy:          AccessPolicy{Name: "labelgate:" + f.service, Decision: "allow"},
	}
	if v, ok := f.ownProp("app_name"); ok {
		name := strings.TrimSpace(v.value)
		if name == "" || len(name) > 350 {
			f.errorf(v.key, "app_name must be 1 to 350 characters")
		}
		t.AppName = name
	}
	if v, ok := f.ownProp("session_duration"); ok {
		d, err := time.ParseDuration(strings.TrimSpace(v.value))
		if err != nil || d <= 0 {
			f.errorf(v.key, "session_duration %q is invalid; use a duration such as 30m, 24h or 720h", v.value)
		}
		t.SessionDuration = strings.TrimSpace(v.value)
	}
	if v, ok := f.ownProp("policy.decision"); ok {
		d, known := decisions[strings.ToLower(strings.TrimSpace(v.value))]
		if !known {
			f.errorf(v.key, "decision %q is invalid; allowed: allow, block, bypass, service_auth", v.value)
		}
		t.Policy.Decision = d
	}
	if v, ok := f.ownProp("policy.name"); ok {
		name := strings.TrimSpace(v.value)
		if name == "" || len(name) > 350 {
			f.errorf(v.key, "policy.name must be 1 to 350 characters")
		}
		t.Policy.Name = name
	}

	for _, name := range slices.Sorted(maps.Keys(f.own)) {
		group, selector, ok := strings.Cut(strings.TrimPrefix(name, "policy."), ".")
		if !strings.HasPrefix(name, "policy.") || !ok {
			continue
		}
		var dst *[]AccessRule
		switch group {
		case "include":
			dst = &t.Policy.Include
		case "require":
			dst = &t.Policy.Require
		case "exclude":
			dst = &t.Policy.Exclude
		default:
			continue // left for unknown()
		}
		f.used[name] = true
		rules, err := f.selectorRules(selector, f.own[name].value)
		if err != nil {
			f.errorf(f.own[name].key, "%v", err)
			continue
		}
		if t.Policy.Decision == "non_identity" && identitySelectors[selector] {
			f.errorf(f.own[name].key, "a service_auth policy admits services, not people, so it cannot use %s; use service_token, ip_ranges, country, certificate or everyone", selector)
		}
		*dst = append(*dst, rules...)
	}
	if len(t.Policy.Include) == 0 && !f.failed {
		f.errorf(f.key("policy.include.<selector>"), "a policy needs at least one include rule, for example %s.policy.include.emails=you@example.com", f.p.prefix+"."+KindAccess+"."+f.service)
	}
	f.unknown(accessAllowed)
	return t, !f.failed
}

// selectorRules turns one selector label into rules, one per value.
func (f *fields) selectorRules(selector, value string) ([]AccessRule, error) {
	check, known := selectorCheck[selector]
	if !known {
		return nil, fmt.Errorf("unknown selector %q; allowed: %s", selector, selectorList())
	}
	if check == nil {
		v := strings.ToLower(strings.TrimSpace(value))
		if v != "" && v != "true" {
			return nil, fmt.Errorf("%s takes no value; set it to an empty string (or true)", selector)
		}
		return []AccessRule{{Selector: selector}}, nil
	}
	values, err := splitList(value)
	if err != nil {
		return nil, fmt.Errorf("%s is a comma-separated list: %v", selector, err)
	}
	rules := make([]AccessRule, 0, len(values))
	for _, v := range values {
		norm, err := check(v)
		if err != nil {
			return nil, err
		}
		r := AccessRule{Selector: selector, Value: norm}
		if !slices.Contains(rules, r) { // repeats after normalisation are one rule
			rules = append(rules, r)
		}
	}
	return rules, nil
}

func checkEmail(v string) (string, error) {
	a, err := mail.ParseAddress(v)
	if err != nil || a.Address != v || a.Name != "" {
		return "", fmt.Errorf("%q is not an email address such as you@example.com", v)
	}
	return strings.ToLower(v), nil
}

// checkEmailDomain accepts "@example.com" (the upstream documented form) or
// "example.com" and returns the bare domain Cloudflare stores.
func checkEmailDomain(v string) (string, error) {
	h, err := NormalizeHostname(strings.TrimPrefix(v, "@"), false)
	if err != nil {
		return "", fmt.Errorf("emails_ending_in takes domains such as @example.com: %v", err)
	}
	return h, nil
}

// checkIPRange accepts a CIDR prefix or a single address (as /32 or /128).
func checkIPRange(v string) (string, error) {
	if p, err := netip.ParsePrefix(v); err == nil {
		return p.String(), nil
	}
	if a, err := netip.ParseAddr(v); err == nil && a.Zone() == "" {
		return netip.PrefixFrom(a, a.BitLen()).String(), nil
	}
	return "", fmt.Errorf("%q is not an IP address or CIDR range such as 203.0.113.0/24", v)
}

func checkCountry(v string) (string, error) {
	c := strings.ToUpper(v)
	if len(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' {
		return "", fmt.Errorf("%q is not a two-letter ISO 3166-1 country code such as US or DE", v)
	}
	return c, nil
}

func checkUUID(what string) func(string) (string, error) {
	return func(v string) (string, error) {
		if !uuidRE.MatchString(v) {
			return "", fmt.Errorf("%q is not a %s (a UUID such as 3f1c1d4e-8c5b-4a59-9a43-2d7e5f0b6a11)", v, what)
		}
		return strings.ToLower(v), nil
	}
}
