package plan

import (
	"strings"
	"testing"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/messages"
)

func dapp(host, tpl string, emails ...string) messages.DesiredApp {
	var inc []messages.AccessRule
	for _, e := range emails {
		inc = append(inc, messages.AccessRule{Selector: "emails", Value: e})
	}
	return messages.DesiredApp{Hostname: host, Name: "labelgate-" + tpl, SessionDuration: "24h", Template: tpl,
		Policy: messages.DesiredPolicy{Name: "labelgate:" + tpl, Decision: "allow", Include: inc}}
}

func TestPlanAccessCreatesSharedPolicyOnce(t *testing.T) {
	pl := Access(nil, nil, []messages.DesiredApp{dapp("a.example.com", "team", "x@example.com"), dapp("b.example.com", "team", "x@example.com")}, nil, nil, settledSync)
	if len(pl.PolicyCreates) != 1 || len(pl.AppCreates) != 2 || pl.AppCreates[0].PolicyName != "labelgate:team" {
		t.Fatalf("want one shared policy and two apps, got %+v", pl)
	}
	if pl.PolicyCreates[0].Include[0].Kind != cfapi.RuleEmail {
		t.Fatalf("selector not converted: %+v", pl.PolicyCreates[0])
	}
}

func TestPlanAccessUpdatesInPlaceAndSteadyState(t *testing.T) {
	livePol := cfapi.AccessPolicy{ID: "p1", Name: "labelgate:team", Decision: "allow", Include: []cfapi.Rule{{Kind: cfapi.RuleEmail, Value: "x@example.com"}}}
	liveApp := cfapi.AccessApp{ID: "a1", Name: "labelgate-team", Domain: "a.example.com", Type: "self_hosted", SessionDuration: "24h", Policies: []cfapi.AppPolicy{{ID: "p1", Precedence: 1}}}
	stA, stP := map[string]bool{"a1": true}, map[string]bool{"p1": true}

	pl := Access([]cfapi.AccessApp{liveApp}, []cfapi.AccessPolicy{livePol}, []messages.DesiredApp{dapp("a.example.com", "team", "x@example.com")}, stA, stP, settledSync)
	if !pl.Empty() {
		t.Fatalf("steady state must write nothing, got %+v", pl)
	}
	// A label change (another email) updates the policy in place.
	pl = Access([]cfapi.AccessApp{liveApp}, []cfapi.AccessPolicy{livePol}, []messages.DesiredApp{dapp("a.example.com", "team", "x@example.com", "y@example.com")}, stA, stP, settledSync)
	if len(pl.PolicyUpdates) != 1 || pl.PolicyUpdates[0].ID != "p1" || len(pl.PolicyCreates) != 0 || len(pl.AppUpdates) != 0 {
		t.Fatalf("want the policy updated in place, got %+v", pl)
	}
	// Nothing desired: app then policy deleted, only when allowed.
	pl = Access([]cfapi.AccessApp{liveApp}, []cfapi.AccessPolicy{livePol}, nil, stA, stP, settledSync)
	if len(pl.AppDeletes) != 1 || len(pl.PolicyDeletes) != 1 {
		t.Fatalf("want both deleted, got %+v", pl)
	}
	if pl = Access([]cfapi.AccessApp{liveApp}, []cfapi.AccessPolicy{livePol}, nil, stA, stP, Policy{Mode: "upsert-only", Settled: true}); !pl.Empty() {
		t.Fatalf("upsert-only must not delete, got %+v", pl)
	}
}

func TestPlanAccessNeverTouchesForeign(t *testing.T) {
	foreignApp := cfapi.AccessApp{ID: "f1", Name: "their app", Domain: "a.example.com"}
	foreignPol := cfapi.AccessPolicy{ID: "fp", Name: "admins", Decision: "allow"}
	d := dapp("a.example.com", "team", "x@example.com")
	d2 := dapp("b.example.com", "adm", "x@example.com")
	d2.Policy.Name = "admins"
	pl := Access([]cfapi.AccessApp{foreignApp}, []cfapi.AccessPolicy{foreignPol}, []messages.DesiredApp{d, d2}, nil, nil, settledSync)
	if len(pl.AppCreates) != 0 || len(pl.AppUpdates) != 0 || len(pl.PolicyUpdates) != 0 || len(pl.Conflicts) != 2 {
		t.Fatalf("foreign objects must be conflicts, not writes: %+v", pl)
	}
	if !strings.Contains(pl.Conflicts[0].String(), "admins") || !strings.Contains(pl.Conflicts[1].String(), "a.example.com") {
		t.Fatalf("conflicts: %q", pl.Conflicts)
	}
	// Nothing desired: foreign objects are never deleted.
	if pl := Access([]cfapi.AccessApp{foreignApp}, []cfapi.AccessPolicy{foreignPol}, nil, nil, nil, settledSync); !pl.Empty() {
		t.Fatalf("foreign objects deleted: %+v", pl)
	}
}

func TestPlanAccessAdoptsOwnNamesAfterDatabaseLoss(t *testing.T) {
	livePol := cfapi.AccessPolicy{ID: "p1", Name: "labelgate:team", Decision: "allow", Include: []cfapi.Rule{{Kind: cfapi.RuleEmail, Value: "x@example.com"}}}
	liveApp := cfapi.AccessApp{ID: "a1", Name: "labelgate-team", Domain: "a.example.com", SessionDuration: "24h", Policies: []cfapi.AppPolicy{{ID: "p1", Precedence: 1}}}
	pl := Access([]cfapi.AccessApp{liveApp}, []cfapi.AccessPolicy{livePol}, []messages.DesiredApp{dapp("a.example.com", "team", "x@example.com")}, nil, nil, settledSync)
	if !pl.Empty() || len(pl.AdoptedApps) != 1 || len(pl.AdoptedPolicies) != 1 {
		t.Fatalf("want adoption without writes (no duplicates), got %+v", pl)
	}
}
