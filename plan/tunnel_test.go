package plan

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/messages"
)

// liveConfig decodes a config document the way cfapi reads Cloudflare's.
func liveConfig(t *testing.T, doc string) cfapi.TunnelConfig {
	t.Helper()
	var c cfapi.TunnelConfig
	if err := c.UnmarshalJSON([]byte(doc)); err != nil {
		t.Fatal(err)
	}
	return c
}

func want(host, path, service string, origin string) messages.DesiredRule {
	d := messages.DesiredRule{Hostname: host, Path: path, Service: service}
	if origin != "" {
		d.OriginRequest = json.RawMessage(origin)
	}
	return d
}

// order renders a rule list as "host path>service" lines.
func order(rules []cfapi.IngressRule) []string {
	var out []string
	for _, r := range rules {
		out = append(out, strings.TrimSpace(r.Hostname+" "+r.Path)+">"+r.Service)
	}
	return out
}

func TestPlanTunnelMergeKeepsForeignInPlace(t *testing.T) {
	live := liveConfig(t, `{
	  "originRequest": {"connectTimeout": 10, "noTLSVerify": true},
	  "warp-routing": {"enabled": true},
	  "ingress": [
	    {"hostname": "manual.example.com", "service": "http://manual:80", "originRequest": {"bastionMode": false, "proxyPort": 0}},
	    {"hostname": "*.example.com", "service": "http://wild:80"},
	    {"hostname": "old.example.com", "service": "http://old:80"},
	    {"service": "http_status:418"}
	  ]}`)
	owned := map[RuleKey]bool{{"old.example.com", ""}: true}
	desired := []messages.DesiredRule{
		want("app.example.com", "", "http://app:80", ""),
		want("app.example.com", "^/api", "http://api:80", `{"connectTimeout":30}`),
		want("*.dev.example.com", "", "http://dev:80", ""),
		want("a.b.example.com", "", "http://ab:80", ""),
	}
	pl := Tunnel(live, desired, owned, Policy{Mode: "sync", Settled: true})
	eq(t, "order", order(pl.Config.Ingress), []string{
		"a.b.example.com>http://ab:80",        // owned exact: more labels first
		"app.example.com ^/api>http://api:80", // longer path first
		"app.example.com>http://app:80",
		"manual.example.com>http://manual:80", // foreign, in their order
		"*.example.com>http://wild:80",
		"*.dev.example.com>http://dev:80", // owned wildcard before the catch-all
		">http_status:418",                // the user's catch-all, kept
	})
	if !pl.Changed {
		t.Fatal("want a change")
	}
	eq(t, "removed", changeNames(pl.Changes, Delete), []string{"old.example.com"})
	eq(t, "added", len(changeNames(pl.Changes, Create)), 4)
	if string(pl.Config.OriginRequest) != `{"connectTimeout": 10, "noTLSVerify": true}` || string(pl.Config.WarpRouting) != `{"enabled": true}` {
		t.Fatalf("top-level keys must be kept verbatim: %s %s", pl.Config.OriginRequest, pl.Config.WarpRouting)
	}
	// The foreign rule keeps keys Labelgate does not model, byte for byte.
	b, _ := pl.Config.Ingress[3].MarshalJSON()
	if !strings.Contains(string(b), `"bastionMode":false`) && !strings.Contains(string(b), `"bastionMode": false`) {
		t.Fatalf("foreign rule lost a key: %s", b)
	}
}

func TestPlanTunnelNoChangeMeansNoPut(t *testing.T) {
	live := liveConfig(t, `{"ingress":[
	  {"hostname":"app.example.com","service":"http://app:80","originRequest":{"connectTimeout":60,"noHappyEyeballs":false}},
	  {"service":"http_status:404"}]}`)
	owned := map[RuleKey]bool{{"app.example.com", ""}: true}
	// 60 == 6e1 == 60.0 and an unset zero value are the same setting.
	for _, origin := range []string{`{"connectTimeout":60}`, `{"connectTimeout":6e1}`, `{"connectTimeout":60.0}`} {
		pl := Tunnel(live, []messages.DesiredRule{want("app.example.com", "", "http://app:80", origin)}, owned, Policy{Mode: "sync", Settled: true})
		if pl.Changed || len(changeNames(pl.Changes, Update)) > 0 {
			t.Fatalf("%s: no change expected, got %+v", origin, pl)
		}
	}
	pl := Tunnel(live, []messages.DesiredRule{want("app.example.com", "", "http://app:80", `{"connectTimeout":30}`)}, owned, Policy{Mode: "sync", Settled: true})
	if !pl.Changed || len(changeNames(pl.Changes, Update)) != 1 {
		t.Fatalf("a changed origin setting must update, got %+v", pl)
	}
}

func TestPlanTunnelForeignSameHostnameIsConflict(t *testing.T) {
	live := liveConfig(t, `{"ingress":[{"hostname":"app.example.com","service":"http://theirs:80"},{"service":"http_status:404"}]}`)
	pl := Tunnel(live, []messages.DesiredRule{want("app.example.com", "^/x", "http://ours:80", "")}, nil, Policy{Mode: "sync", Settled: true})
	if pl.Changed || len(pl.Conflicts) != 1 || !strings.Contains(pl.Conflicts[0].String(), "does not own") {
		t.Fatalf("want a conflict and no change, got %+v", pl)
	}
	eq(t, "owned", len(pl.Owned), 0)
}

func TestPlanTunnelAdoptsIdenticalRule(t *testing.T) {
	live := liveConfig(t, `{"ingress":[{"hostname":"app.example.com","service":"http://app:80"},{"service":"http_status:404"}]}`)
	pl := Tunnel(live, []messages.DesiredRule{want("app.example.com", "", "http://app:80", "")}, nil, Policy{Mode: "sync", Settled: true})
	if pl.Changed || len(pl.Conflicts) != 0 || len(pl.Owned) != 1 {
		t.Fatalf("an identical rule must be adopted without a write, got %+v", pl)
	}
}

func TestPlanTunnelPolicies(t *testing.T) {
	live := liveConfig(t, `{"ingress":[{"hostname":"a.example.com","service":"http://a:80"},{"hostname":"gone.example.com","service":"http://g:80"},{"service":"http_status:404"}]}`)
	owned := map[RuleKey]bool{{"a.example.com", ""}: true, {"gone.example.com", ""}: true}
	desired := []messages.DesiredRule{want("a.example.com", "", "http://a:8080", ""), want("new.example.com", "", "http://n:80", "")}
	tests := []struct {
		pol                     Policy
		added, updated, removed int
	}{
		{Policy{Mode: "sync", Settled: true}, 1, 1, 1},
		{Policy{Mode: "sync", Settled: false}, 1, 1, 0},
		{Policy{Mode: "upsert-only", Settled: true}, 1, 1, 0},
		{Policy{Mode: "create-only", Settled: true}, 1, 0, 0},
	}
	for _, tc := range tests {
		pl := Tunnel(live, desired, owned, tc.pol)
		if len(changeNames(pl.Changes, Create)) != tc.added || len(changeNames(pl.Changes, Update)) != tc.updated || len(changeNames(pl.Changes, Delete)) != tc.removed {
			t.Errorf("%+v: got +%d ~%d -%d", tc.pol, len(changeNames(pl.Changes, Create)), len(changeNames(pl.Changes, Update)), len(changeNames(pl.Changes, Delete)))
		}
		if tc.removed == 0 && !strings.Contains(strings.Join(order(pl.Config.Ingress), ","), "gone.example.com") {
			t.Errorf("%+v: an owned rule must stay when deletes are not allowed", tc.pol)
		}
	}
}

func TestPlanTunnelEmptyConfigGetsCatchAll(t *testing.T) {
	pl := Tunnel(cfapi.TunnelConfig{}, []messages.DesiredRule{want("a.example.com", "", "http://a:80", "")}, nil, Policy{Mode: "sync", Settled: true})
	eq(t, "order", order(pl.Config.Ingress), []string{"a.example.com>http://a:80", ">http_status:404"})
}

func TestCompareRuleKeysIsTotal(t *testing.T) {
	keys := []RuleKey{{"*.example.com", ""}, {"b.example.com", ""}, {"a.example.com", "^/a"}, {"a.example.com", "^/api"}, {"*.x.example.com", ""}, {"x.y.example.com", ""}}
	for i := 0; i < len(keys); i++ {
		for j := 0; j < len(keys); j++ {
			if (compareRuleKeys(keys[i], keys[j]) == 0) != (i == j) {
				t.Fatalf("%v vs %v", keys[i], keys[j])
			}
			if compareRuleKeys(keys[i], keys[j]) != -compareRuleKeys(keys[j], keys[i]) {
				t.Fatalf("not antisymmetric: %v vs %v", keys[i], keys[j])
			}
		}
	}
}

func TestPlanTunnelNothingOwnedNothingWritten(t *testing.T) {
	pl := Tunnel(cfapi.TunnelConfig{}, nil, nil, Policy{Mode: "sync", Settled: true})
	if pl.Changed {
		t.Fatalf("an empty tunnel with nothing desired must not be written: %+v", pl.Config)
	}
}

// changeNames lists the lines of the changes of one action.
func changeNames(changes []Change, a Action) []string {
	var out []string
	for _, c := range changes {
		if c.Action == a {
			out = append(out, c.String())
		}
	}
	return out
}

// eq fails the test with a diff when got and want differ.
func eq(t *testing.T, what string, got, want any) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("%s (-want +got):\n%s", what, d)
	}
}

// A held rule (its Access application does not exist yet) is not added; a
// held rule that is live and owned stays, and may be updated.
func TestPlanTunnelHeldRules(t *testing.T) {
	live := liveConfig(t, `{"ingress":[{"hostname":"live.example.com","service":"http://old:80"},{"service":"http_status:404"}]}`)
	owned := map[RuleKey]bool{{"live.example.com", ""}: true}
	newHeld := want("new.example.com", "", "http://new:80", "")
	newHeld.Held = true
	liveHeld := want("live.example.com", "", "http://live:80", "")
	liveHeld.Held = true
	tp := Tunnel(live, []messages.DesiredRule{newHeld, liveHeld, want("plain.example.com", "", "http://plain:80", "")}, owned, settledSync)
	if diff := cmp.Diff([]string{"live.example.com>http://live:80", "plain.example.com>http://plain:80", ">http_status:404"}, order(tp.Config.Ingress)); diff != "" {
		t.Errorf("ingress (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]RuleKey{{"new.example.com", ""}}, tp.Held); diff != "" {
		t.Errorf("held (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]RuleKey{{"live.example.com", ""}, {"plain.example.com", ""}}, tp.Owned); diff != "" {
		t.Errorf("owned (-want +got):\n%s", diff)
	}
}
