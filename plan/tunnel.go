package plan

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/messages"
)

// RuleKey identifies an ingress rule within a tunnel.
type RuleKey struct{ Hostname, Path string }

func (k RuleKey) String() string {
	if k.Path == "" {
		return k.Hostname
	}
	return k.Hostname + " path " + k.Path
}

// TunnelPlan is the outcome of merging owned rules into a live tunnel config.
type TunnelPlan struct {
	// Config is the document to PUT; meaningful only when Changed.
	Config  cfapi.TunnelConfig
	Changed bool
	// Changes are the routes added, updated and removed, in that order.
	Changes []Change
	// Conflicts are desired rules not applied because a rule Labelgate does
	// not own already routes that hostname.
	Conflicts []Conflict
	// Owned is the set of rules Labelgate owns once Config is written.
	Owned []RuleKey
	// Held are desired rules not added because their Access application
	// does not exist yet (DesiredRule.Held); a held rule already live stays.
	Held []RuleKey
}

// Tunnel merges the desired owned rules into the live configuration.
//
//	live rule            desired?   result
//	none                 yes, held  not added (its Access app does not exist yet)
//	owned                yes        replaced by the desired rule
//	owned                no         removed (kept if deletes are not allowed)
//	foreign, same host   yes        kept; the desired rule is a conflict
//	                                (adopted instead if it is identical)
//	foreign              –          kept verbatim, in its place
//	catch-all            –          kept verbatim, last (http_status:404 if none)
//
// Owned rules are laid out deterministically: exact hostnames first, above
// every foreign rule (an exact route is never shadowed by a foreign
// wildcard); owned wildcards after the foreign rules, just before the
// catch-all (so they never shadow a foreign exact route). Within each block:
// more labels first, then lexical hostname, then longer path first, then
// lexical path. The global originRequest and every other top-level key are
// kept verbatim.
func Tunnel(live cfapi.TunnelConfig, desired []messages.DesiredRule, owned map[RuleKey]bool, pol Policy) TunnelPlan {
	var tp TunnelPlan
	want := map[RuleKey]messages.DesiredRule{}
	for _, d := range desired {
		want[RuleKey{d.Hostname, d.Path}] = d
	}

	var foreign []cfapi.IngressRule
	var catchAll *cfapi.IngressRule
	liveOwned := map[RuleKey]cfapi.IngressRule{}
	foreignHosts := map[string][]cfapi.IngressRule{}
	for i, r := range live.Ingress {
		k := RuleKey{strings.ToLower(r.Hostname), r.Path}
		switch {
		case i == len(live.Ingress)-1 && r.IsCatchAll():
			rc := r
			catchAll = &rc
		case owned[k]:
			liveOwned[k] = r
		default:
			foreign = append(foreign, r)
			foreignHosts[k.Hostname] = append(foreignHosts[k.Hostname], r)
		}
	}

	// Adoption: a foreign rule identical to a desired one is ours already in
	// effect (for example after the database was lost); take it over.
	var stillForeign []cfapi.IngressRule
	for _, r := range foreign {
		k := RuleKey{strings.ToLower(r.Hostname), r.Path}
		if d, ok := want[k]; ok && len(foreignHosts[k.Hostname]) == 1 && sameRule(r, d) {
			liveOwned[k] = r
			delete(foreignHosts, k.Hostname)
			continue
		}
		stillForeign = append(stillForeign, r)
	}
	foreign = stillForeign

	var ownedRules []cfapi.IngressRule
	var ownedKeys []RuleKey
	var adds, updates, removes []Change
	for _, k := range slices.SortedFunc(maps.Keys(want), compareRuleKeys) {
		d := want[k]
		if fr := foreignHosts[k.Hostname]; len(fr) > 0 {
			tp.Conflicts = append(tp.Conflicts, Conflict{Kind: Foreign, Object: TunnelRule, Hostname: k.Hostname, Name: k.String(),
				Reason: fmt.Sprintf("the tunnel already has a rule for %s that Labelgate does not own (service %s); it is left alone and this route is not added", k.Hostname, fr[0].Service)})
			continue
		}
		cur, had := liveOwned[k]
		change := Change{Action: Create, Object: TunnelRule, Hostname: k.Hostname, Name: k.String(), Owner: d.Owner}
		switch {
		case !had && d.Held:
			tp.Held = append(tp.Held, k)
			continue
		case !had:
			adds = append(adds, change)
			ownedRules = append(ownedRules, toIngress(d))
		case sameRule(cur, d):
			ownedRules = append(ownedRules, cur)
		default:
			change.Action, change.Detail = Update, describeRuleUpdate(cur, d)
			if !pol.Allows(change) {
				ownedRules = append(ownedRules, cur)
				break
			}
			updates = append(updates, change)
			ownedRules = append(ownedRules, toIngress(d))
		}
		ownedKeys = append(ownedKeys, k)
	}
	for _, k := range slices.SortedFunc(maps.Keys(liveOwned), compareRuleKeys) {
		if _, ok := want[k]; ok {
			continue
		}
		if c := (Change{Action: Delete, Object: TunnelRule, Hostname: k.Hostname, Name: k.String()}); pol.Allows(c) {
			removes = append(removes, c)
			continue
		}
		ownedRules = append(ownedRules, liveOwned[k])
		ownedKeys = append(ownedKeys, k)
	}
	slices.SortFunc(ownedRules, func(a, b cfapi.IngressRule) int {
		return compareRuleKeys(RuleKey{strings.ToLower(a.Hostname), a.Path}, RuleKey{strings.ToLower(b.Hostname), b.Path})
	})
	slices.SortFunc(ownedKeys, compareRuleKeys)

	var exact, wild []cfapi.IngressRule
	for _, r := range ownedRules {
		if strings.HasPrefix(r.Hostname, "*.") {
			wild = append(wild, r)
		} else {
			exact = append(exact, r)
		}
	}
	next := live
	next.Ingress = nil
	next.Ingress = append(next.Ingress, exact...)
	next.Ingress = append(next.Ingress, foreign...)
	next.Ingress = append(next.Ingress, wild...)
	switch {
	case catchAll != nil:
		next.Ingress = append(next.Ingress, *catchAll)
	case len(next.Ingress) > 0:
		next.Ingress = append(next.Ingress, cfapi.IngressRule{Service: "http_status:404"})
	}
	tp.Config, tp.Owned = next, ownedKeys
	tp.Changes = slices.Concat(adds, updates, removes)
	tp.Changed = canonicalIngress(live.Ingress) != canonicalIngress(next.Ingress)
	return tp
}

// describeRuleUpdate says what an update of a route changes.
func describeRuleUpdate(live cfapi.IngressRule, d messages.DesiredRule) string {
	if live.Service != d.Service {
		return fmt.Sprintf("service %s → %s", live.Service, d.Service)
	}
	return "origin request settings"
}

// compareRuleKeys is the deterministic order of owned rules.
func compareRuleKeys(a, b RuleKey) int {
	aw, bw := strings.HasPrefix(a.Hostname, "*."), strings.HasPrefix(b.Hostname, "*.")
	if aw != bw {
		if aw {
			return 1
		}
		return -1
	}
	return cmp.Or(
		cmp.Compare(strings.Count(b.Hostname, "."), strings.Count(a.Hostname, ".")),
		cmp.Compare(a.Hostname, b.Hostname),
		cmp.Compare(len(b.Path), len(a.Path)),
		cmp.Compare(a.Path, b.Path),
	)
}

func toIngress(d messages.DesiredRule) cfapi.IngressRule {
	r := cfapi.IngressRule{Hostname: d.Hostname, Path: d.Path, Service: d.Service}
	if len(d.OriginRequest) > 0 {
		r.OriginRequest = decodeObject(d.OriginRequest)
	}
	return r
}

func decodeObject(raw []byte) map[string]any {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil
	}
	return m
}

// sameRule compares a live rule with a desired one the way cloudflared
// reads them: an originRequest key the desired rule does not set counts as
// equal when the live value is a zero value (false, 0, "", empty), since
// that is cloudflared's default anyway.
func sameRule(live cfapi.IngressRule, d messages.DesiredRule) bool {
	if !strings.EqualFold(live.Hostname, d.Hostname) || live.Path != d.Path || live.Service != d.Service {
		return false
	}
	want := decodeObject(d.OriginRequest)
	for k, v := range live.OriginRequest {
		if _, ok := want[k]; !ok && !isZero(v) {
			return false
		}
	}
	for k, v := range want {
		if canonicalJSON(live.OriginRequest[k]) != canonicalJSON(v) {
			return false
		}
	}
	return true
}

func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case string:
		return x == ""
	case json.Number:
		f, err := x.Float64()
		return err == nil && f == 0
	case float64:
		return x == 0
	case []any:
		return len(x) == 0
	case map[string]any:
		for _, e := range x {
			if !isZero(e) {
				return false
			}
		}
		return true
	}
	return false
}

// canonicalJSON encodes a decoded JSON value with sorted keys and numbers
// in their shortest form, so equal values compare equal as strings.
func canonicalJSON(v any) string {
	switch x := v.(type) {
	case json.Number:
		if f, err := x.Float64(); err == nil {
			b, _ := json.Marshal(f)
			return string(b)
		}
	case map[string]any:
		var b strings.Builder
		b.WriteByte('{')
		for i, k := range slices.Sorted(maps.Keys(x)) {
			if i > 0 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteByte(':')
			b.WriteString(canonicalJSON(x[k]))
		}
		b.WriteByte('}')
		return b.String()
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = canonicalJSON(e)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// canonicalIngress is the comparable form of a rule list: order matters
// (cloudflared matches top-down), key order and number spelling do not.
func canonicalIngress(rules []cfapi.IngressRule) string {
	var b strings.Builder
	for _, r := range rules {
		var extra map[string]any
		if len(r.Raw) > 0 {
			extra = decodeObject(r.Raw)
			for _, k := range []string{"hostname", "path", "service", "originRequest"} {
				delete(extra, k)
			}
		}
		fmt.Fprintf(&b, "%s|%s|%s|%s|%s\n", strings.ToLower(r.Hostname), r.Path, r.Service, canonicalJSON(toAnyMap(r.OriginRequest)), canonicalJSON(toAnyMap(extra)))
	}
	return b.String()
}

func toAnyMap(m map[string]any) any {
	if len(m) == 0 {
		return nil
	}
	return m
}
