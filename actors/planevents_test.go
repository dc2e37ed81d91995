package actors

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/messages"
	"github.com/labelgate/labelgate/plan"
)

// eventKey is what an event says about where it belongs.
type eventKey struct {
	Kind, Hostname, Source, Container string
}

func changeKeys(changes []plan.Change) []eventKey {
	var out []eventKey
	for _, c := range changes {
		e := changeEvent(time.Time{}, c, "msg")
		out = append(out, eventKey{e.Kind, e.Hostname, e.Source, e.Container})
	}
	return out
}

func conflictKeys(conflicts []plan.Conflict) []eventKey {
	var out []eventKey
	for _, c := range conflicts {
		e := conflictEvent(time.Time{}, c)
		out = append(out, eventKey{e.Kind, e.Hostname, "", ""})
	}
	return out
}

func checkKeys(t *testing.T, what string, got, want []eventKey) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s: events (-want +got):\n%s", what, d)
	}
}

var (
	ownerA = messages.Owner{Source: "local", Container: "app-a"}
	ownerB = messages.Owner{Source: "agent:edge", Container: "app-b"}
)

// Every event the tunnel planner can cause names the hostname of its route,
// paths and wildcards included.
func TestTunnelPlanEventHostnames(t *testing.T) {
	live := cfapi.TunnelConfig{Ingress: []cfapi.IngressRule{
		{Hostname: "upd.example.com", Service: "http://old:80"},
		{Hostname: "gone.example.com", Path: "^/api", Service: "http://gone:80"},
		{Hostname: "taken.example.com", Service: "http://someone-else:80"},
		{Service: "http_status:404"},
	}}
	owned := map[plan.RuleKey]bool{{Hostname: "upd.example.com"}: true, {Hostname: "gone.example.com", Path: "^/api"}: true}
	desired := []messages.DesiredRule{
		{Hostname: "new.example.com", Path: "^/v1/", Service: "http://new:80", Owner: ownerA},
		{Hostname: "*.wild.example.com", Service: "http://wild:80", Owner: ownerB},
		{Hostname: "upd.example.com", Service: "http://new:80", Owner: ownerB},
		{Hostname: "taken.example.com", Service: "http://mine:80", Owner: ownerA},
	}
	tp := plan.Tunnel(live, desired, owned, plan.Policy{Settled: true})
	checkKeys(t, "changes", changeKeys(tp.Changes), []eventKey{
		{"created", "new.example.com", "local", "app-a"},
		{"created", "*.wild.example.com", "agent:edge", "app-b"},
		{"updated", "upd.example.com", "agent:edge", "app-b"},
		{"deleted", "gone.example.com", "", ""},
	})
	checkKeys(t, "conflicts", conflictKeys(tp.Conflicts), []eventKey{{"conflict", "taken.example.com", "", ""}})
}

// Every event the zone planner can cause names the record's hostname:
// IPv6 contents, orphans and each kind of foreign block included.
func TestZonePlanEventHostnames(t *testing.T) {
	live := []cfapi.Record{
		{ID: "u1", Name: "upd.example.com", Type: "A", Content: "192.0.2.1", TTL: 1, Comment: plan.OwnerMarker},
		{ID: "d1", Name: "gone.example.com", Type: "AAAA", Content: "2001:db8::9", TTL: 1, Comment: plan.OwnerMarker},
		{ID: "o1", Name: "alone.example.com", Type: "TXT", Content: "x", TTL: 1, Comment: "left " + plan.OwnerMarker},
		{ID: "f1", Name: "cname.example.com", Type: "CNAME", Content: "elsewhere.example.net", TTL: 1},
		{ID: "f2", Name: "addr.example.com", Type: "A", Content: "198.51.100.1", TTL: 1},
		{ID: "f3", Name: "same.example.com", Type: "MX", Content: "mx.example.com", TTL: 1, Priority: new(10)},
	}
	stored := map[string]bool{"u1": true, "d1": true}
	desired := []messages.DesiredRecord{
		{Name: "v6.example.com", Type: "AAAA", Content: "2001:db8::1", TTL: 1, Owner: ownerA},
		{Name: "upd.example.com", Type: "A", Content: "192.0.2.2", TTL: 1, Owner: ownerB},
		{Name: "cname.example.com", Type: "A", Content: "192.0.2.3", TTL: 1, Owner: ownerA},
		{Name: "addr.example.com", Type: "AAAA", Content: "2001:db8::3", TTL: 1, Owner: ownerA},
		{Name: "same.example.com", Type: "MX", Content: "mx.example.com", TTL: 1, Priority: new(10), Owner: ownerB},
	}
	zp := plan.Zone(live, desired, stored, 100, plan.Policy{Settled: true})
	checkKeys(t, "changes", changeKeys(slices.Concat(zp.Deletes, zp.Updates, zp.Creates)), []eventKey{
		{"deleted", "gone.example.com", "", ""},
		{"updated", "upd.example.com", "agent:edge", "app-b"},
		{"created", "v6.example.com", "local", "app-a"},
	})
	checkKeys(t, "conflicts", conflictKeys(zp.Conflicts), []eventKey{
		{"conflict", "addr.example.com", "", ""},
		{"conflict", "cname.example.com", "", ""},
		{"conflict", "same.example.com", "", ""},
	})
	checkKeys(t, "orphans", conflictKeys(zp.Orphans), []eventKey{{"orphan", "alone.example.com", "", ""}})
}

// Every event the Access planner can cause names the protected hostname;
// a policy (shared by apps) names none, and a policy conflict names each
// hostname whose app it holds back.
func TestAccessPlanEventHostnames(t *testing.T) {
	app := func(host, tpl string, o messages.Owner, emails ...string) messages.DesiredApp {
		var inc []messages.AccessRule
		for _, e := range emails {
			inc = append(inc, messages.AccessRule{Selector: "emails", Value: e})
		}
		return messages.DesiredApp{Hostname: host, Name: "labelgate-" + tpl, SessionDuration: "24h", Template: tpl, Owner: o,
			Policy: messages.DesiredPolicy{Name: "labelgate:" + tpl, Decision: "allow", Include: inc}}
	}
	livePolicies := []cfapi.AccessPolicy{
		{ID: "p-upd", Name: "labelgate:team", Decision: "allow", Include: []cfapi.Rule{{Kind: cfapi.RuleEmail, Value: "old@example.com"}}},
		{ID: "p-gone", Name: "labelgate:old", Decision: "allow"},
		{ID: "p-foreign", Name: "used", Decision: "allow"},
	}
	liveApps := []cfapi.AccessApp{
		{ID: "a-upd", Name: "labelgate-renamed", Domain: "upd.example.com", Type: "self_hosted", SessionDuration: "24h", Policies: []cfapi.AppPolicy{{ID: "p-upd"}}},
		{ID: "a-gone", Name: "labelgate-old", Domain: "gone.example.com", Type: "self_hosted"},
		{ID: "a-foreign", Name: "theirs", Domain: "taken.example.com", Type: "self_hosted"},
	}
	used := app("used.example.com", "used", ownerB, "z@example.com")
	used.Policy.Name = "used" // a name Labelgate would not adopt
	stApps := map[string]bool{"a-upd": true, "a-gone": true}
	stPolicies := map[string]bool{"p-upd": true, "p-gone": true}
	desired := []messages.DesiredApp{
		app("new.example.com", "team", ownerA, "x@example.com"),
		app("upd.example.com", "team", ownerB, "x@example.com"),
		app("taken.example.com", "other", ownerA, "y@example.com"),
		used,
		app("zdiff.example.com", "team", ownerA, "someone-else@example.com"),
	}
	ap := plan.Access(liveApps, livePolicies, desired, stApps, stPolicies, plan.Policy{Settled: true})
	checkKeys(t, "changes", changeKeys(ap.Changes()), []eventKey{
		{"created", "", "", ""}, // policy labelgate:other
		{"updated", "", "", ""}, // policy labelgate:team
		{"created", "new.example.com", "local", "app-a"},
		{"created", "zdiff.example.com", "local", "app-a"},
		{"updated", "upd.example.com", "agent:edge", "app-b"},
		{"deleted", "gone.example.com", "", ""},
		{"deleted", "", "", ""}, // policy labelgate:old
	})
	checkKeys(t, "conflicts", conflictKeys(ap.Conflicts), []eventKey{
		{"conflict", "zdiff.example.com", "", ""},
		{"conflict", "used.example.com", "", ""},
		{"conflict", "taken.example.com", "", ""},
	})
	for _, c := range ap.Conflicts {
		if c.Hostname == "used" || c.Hostname == `"labelgate:used"` {
			t.Errorf("a policy conflict names %q as its hostname", c.Hostname)
		}
	}
}

// The plan preview and the conflict lines keep their wording: each line
// still names the object first.
func TestConflictLineNamesObject(t *testing.T) {
	c := plan.Conflict{Kind: plan.Foreign, Object: plan.DNSRecord, Hostname: "a.example.com", Name: "A a.example.com", Reason: "in the way"}
	if got, want := c.String(), "A a.example.com: in the way"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := fmt.Sprint(plan.Change{Name: "A a.example.com", Detail: "ttl 1 → 300"}); got != "A a.example.com: ttl 1 → 300" {
		t.Errorf("change line = %q", got)
	}
}
