package plan

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/labels"
	"github.com/labelgate/labelgate/messages"
)

// selectorRule maps a label selector to Cloudflare's rule kind.
var selectorRule = map[string]cfapi.RuleKind{
	labels.SelectorEmails:         cfapi.RuleEmail,
	labels.SelectorEmailsEndingIn: cfapi.RuleEmailDomain,
	labels.SelectorIPRanges:       cfapi.RuleIP,
	labels.SelectorCountry:        cfapi.RuleCountry,
	labels.SelectorEveryone:       cfapi.RuleEveryone,
	labels.SelectorServiceToken:   cfapi.RuleServiceToken,
	labels.SelectorAccessGroups:   cfapi.RuleGroup,
	labels.SelectorCertificate:    cfapi.RuleCertificate,
	labels.SelectorLoginMethods:   cfapi.RuleLoginMethod,
}

// adoptablePrefix: without the store, Labelgate takes over only Access
// objects whose name it would have chosen itself, never a same-named object
// that someone else created.
const adoptablePrefix = "labelgate"

// AccessPlan is the outcome of comparing desired apps and policies with the
// account's live ones. The access actor runs it in order: policy creates
// and updates, then app creates and updates (which need policy ids), then
// app deletes, then policy deletes.
type AccessPlan struct {
	PolicyCreates []cfapi.AccessPolicy
	PolicyUpdates []cfapi.AccessPolicy
	// AppCreates and AppUpdates name their policy by PolicyName; the actor
	// fills in its id.
	AppCreates    []AppChange
	AppUpdates    []AppChange
	AppDeletes    []cfapi.AccessApp
	PolicyDeletes []cfapi.AccessPolicy
	// PolicyIDs are the ids of desired policies that exist already.
	PolicyIDs map[string]string
	Conflicts []Conflict
	// Adopted are unstored objects taken over by name.
	AdoptedApps     []cfapi.AccessApp
	AdoptedPolicies []cfapi.AccessPolicy
}

// AppChange is an app to create or update, bound to a policy by name.
type AppChange struct {
	App        cfapi.AccessApp
	PolicyName string
	// Owner is the claim the app protects.
	Owner messages.Owner
}

// Empty reports whether the plan writes nothing.
func (p AccessPlan) Empty() bool {
	return len(p.PolicyCreates)+len(p.PolicyUpdates)+len(p.AppCreates)+len(p.AppUpdates)+len(p.AppDeletes)+len(p.PolicyDeletes) == 0
}

// Access compares desired apps with live apps and policies.
//
//	live object                           desired?  result
//	owned (stored id, or adoptable name)  yes       kept, or updated in place
//	owned, stored                         no        deleted (if deletes allowed)
//	foreign app on the same domain        yes       left alone; conflict
//	foreign policy with the same name     yes       left alone; conflict
//	foreign                               –         never touched
//
// Apps bound to one template share one reusable policy.
func Access(liveApps []cfapi.AccessApp, livePolicies []cfapi.AccessPolicy, desired []messages.DesiredApp, storedApps, storedPolicies map[string]bool, pol Policy) AccessPlan {
	ap := AccessPlan{PolicyIDs: map[string]string{}}

	// Desired policies, deduplicated by name (first hostname in order wins).
	policies := map[string]messages.DesiredPolicy{}
	policyOf := map[string]string{}  // hostname → policy name
	hostsOf := map[string][]string{} // policy name → hostnames, in order
	var apps []messages.DesiredApp
	for _, d := range slices.SortedFunc(slices.Values(desired), func(a, b messages.DesiredApp) int { return cmp.Compare(a.Hostname, b.Hostname) }) {
		if cur, ok := policies[d.Policy.Name]; ok && !samePolicy(toPolicy(cur), toPolicy(d.Policy)) {
			ap.Conflicts = append(ap.Conflicts, Conflict{Kind: Definition, Object: AccessPolicy, Hostname: d.Hostname, Name: fmt.Sprintf("policy %q", d.Policy.Name),
				Reason: fmt.Sprintf("defined differently by the template of %s; the first definition is used", d.Hostname)})
		} else if !ok {
			policies[d.Policy.Name] = d.Policy
		}
		policyOf[d.Hostname] = d.Policy.Name
		hostsOf[d.Policy.Name] = append(hostsOf[d.Policy.Name], d.Hostname)
		apps = append(apps, d)
	}

	// Policies.
	ownedPolicy := map[string]cfapi.AccessPolicy{} // by name
	var ownedPolicyIDs []cfapi.AccessPolicy
	foreignPolicy := map[string]bool{}
	for _, p := range livePolicies {
		_, wanted := policies[p.Name]
		switch {
		case storedPolicies[p.ID]:
			ownedPolicy[p.Name] = p
			ownedPolicyIDs = append(ownedPolicyIDs, p)
		case wanted && strings.HasPrefix(p.Name, adoptablePrefix):
			ownedPolicy[p.Name] = p
			ownedPolicyIDs = append(ownedPolicyIDs, p)
			ap.AdoptedPolicies = append(ap.AdoptedPolicies, p)
		default:
			foreignPolicy[p.Name] = true
		}
	}
	blockedPolicy := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(policies)) {
		want := toPolicy(policies[name])
		cur, ok := ownedPolicy[name]
		switch {
		case ok:
			ap.PolicyIDs[name] = cur.ID
			if !samePolicy(cur, want) && pol.Allows(Change{Action: Update, Object: AccessPolicy, Name: name}) {
				want.ID = cur.ID
				ap.PolicyUpdates = append(ap.PolicyUpdates, want)
			}
		case foreignPolicy[name]:
			blockedPolicy[name] = true
			for _, host := range hostsOf[name] {
				ap.Conflicts = append(ap.Conflicts, Conflict{Kind: Foreign, Object: AccessPolicy, Hostname: host, Name: fmt.Sprintf("policy %q", name),
					Reason: "an Access policy with that name exists that Labelgate does not own; it is left alone and the app of " + host + " is not written"})
			}
		default:
			ap.PolicyCreates = append(ap.PolicyCreates, want)
		}
	}

	// Apps.
	ownedApp := map[string]cfapi.AccessApp{} // by domain
	foreignApp := map[string]cfapi.AccessApp{}
	wantedApp := map[string]messages.DesiredApp{}
	for _, a := range apps {
		wantedApp[a.Hostname] = a
	}
	for _, a := range liveApps {
		domain := strings.ToLower(a.Domain)
		d, wanted := wantedApp[domain]
		switch {
		case storedApps[a.ID]:
			ownedApp[domain] = a
		case wanted && a.Name == d.Name && strings.HasPrefix(a.Name, adoptablePrefix):
			ownedApp[domain] = a
			ap.AdoptedApps = append(ap.AdoptedApps, a)
		default:
			foreignApp[domain] = a
		}
	}
	for _, a := range apps {
		name := policyOf[a.Hostname]
		if blockedPolicy[name] {
			continue
		}
		want := cfapi.AccessApp{Name: a.Name, Domain: a.Hostname, Type: "self_hosted", SessionDuration: a.SessionDuration}
		cur, ok := ownedApp[a.Hostname]
		switch {
		case ok:
			id := ap.PolicyIDs[name]
			if id == "" || cur.Name != want.Name || cur.SessionDuration != want.SessionDuration || len(cur.Policies) != 1 || cur.Policies[0].ID != id {
				if pol.Allows(Change{Action: Update, Object: AccessApp, Hostname: a.Hostname}) {
					want.ID = cur.ID
					ap.AppUpdates = append(ap.AppUpdates, AppChange{App: want, PolicyName: name, Owner: a.Owner})
				}
			}
		case foreignApp[a.Hostname].ID != "":
			ap.Conflicts = append(ap.Conflicts, Conflict{Kind: Foreign, Object: AccessApp, Hostname: a.Hostname, Name: a.Hostname,
				Reason: fmt.Sprintf("an Access application Labelgate does not own (%q, id %s) already covers this domain; it is left alone", foreignApp[a.Hostname].Name, foreignApp[a.Hostname].ID)})
		default:
			ap.AppCreates = append(ap.AppCreates, AppChange{App: want, PolicyName: name, Owner: a.Owner})
		}
	}
	if pol.Allows(Change{Action: Delete}) {
		for _, domain := range slices.Sorted(maps.Keys(ownedApp)) {
			if _, ok := wantedApp[domain]; !ok && storedApps[ownedApp[domain].ID] {
				ap.AppDeletes = append(ap.AppDeletes, ownedApp[domain])
			}
		}
		for _, p := range ownedPolicyIDs {
			if _, ok := policies[p.Name]; !ok && storedPolicies[p.ID] {
				ap.PolicyDeletes = append(ap.PolicyDeletes, p)
			}
		}
	}
	return ap
}

// Changes lists the plan's writes in the order the access actor runs them.
func (p AccessPlan) Changes() []Change {
	var out []Change
	policy := func(a Action, name string) Change {
		return Change{Action: a, Object: AccessPolicy, Name: name}
	}
	app := func(a Action, c AppChange) Change {
		return Change{Action: a, Object: AccessApp, Hostname: strings.ToLower(c.App.Domain), Name: c.App.Name, Owner: c.Owner}
	}
	for _, x := range p.PolicyCreates {
		out = append(out, policy(Create, x.Name))
	}
	for _, x := range p.PolicyUpdates {
		out = append(out, policy(Update, x.Name))
	}
	for _, c := range p.AppCreates {
		out = append(out, app(Create, c))
	}
	for _, c := range p.AppUpdates {
		out = append(out, app(Update, c))
	}
	for _, x := range p.AppDeletes {
		out = append(out, app(Delete, AppChange{App: x}))
	}
	for _, x := range p.PolicyDeletes {
		out = append(out, policy(Delete, x.Name))
	}
	return out
}

// toPolicy converts a desired policy to Cloudflare's form.
func toPolicy(d messages.DesiredPolicy) cfapi.AccessPolicy {
	conv := func(rs []messages.AccessRule) []cfapi.Rule {
		out := make([]cfapi.Rule, 0, len(rs))
		for _, r := range rs {
			out = append(out, cfapi.Rule{Kind: selectorRule[r.Selector], Value: r.Value})
		}
		return out
	}
	return cfapi.AccessPolicy{Name: d.Name, Decision: d.Decision, Include: conv(d.Include), Require: conv(d.Require), Exclude: conv(d.Exclude)}
}

// samePolicy compares decision and rules; rule order does not matter.
func samePolicy(a, b cfapi.AccessPolicy) bool {
	set := func(rs []cfapi.Rule) string {
		var s []string
		for _, r := range rs {
			s = append(s, string(r.Kind)+"="+strings.ToLower(r.Value))
		}
		slices.Sort(s)
		return strings.Join(s, ",")
	}
	return a.Name == b.Name && a.Decision == b.Decision && set(a.Include) == set(b.Include) && set(a.Require) == set(b.Require) && set(a.Exclude) == set(b.Exclude)
}
