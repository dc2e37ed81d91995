package actors

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
	plan := planAccess(nil, nil, []messages.DesiredApp{dapp("a.example.com", "team", "x@example.com"), dapp("b.example.com", "team", "x@example.com")}, nil, nil, settledSync)
	if len(plan.PolicyCreates) != 1 || len(plan.AppCreates) != 2 || plan.AppCreates[0].PolicyName != "labelgate:team" {
		t.Fatalf("want one shared policy and two apps, got %+v", plan)
	}
	if plan.PolicyCreates[0].Include[0].Kind != cfapi.RuleEmail {
		t.Fatalf("selector not converted: %+v", plan.PolicyCreates[0])
	}
}

func TestPlanAccessUpdatesInPlaceAndSteadyState(t *testing.T) {
	livePol := cfapi.AccessPolicy{ID: "p1", Name: "labelgate:team", Decision: "allow", Include: []cfapi.Rule{{Kind: cfapi.RuleEmail, Value: "x@example.com"}}}
	liveApp := cfapi.AccessApp{ID: "a1", Name: "labelgate-team", Domain: "a.example.com", Type: "self_hosted", SessionDuration: "24h", Policies: []cfapi.AppPolicy{{ID: "p1", Precedence: 1}}}
	stA, stP := map[string]bool{"a1": true}, map[string]bool{"p1": true}

	plan := planAccess([]cfapi.AccessApp{liveApp}, []cfapi.AccessPolicy{livePol}, []messages.DesiredApp{dapp("a.example.com", "team", "x@example.com")}, stA, stP, settledSync)
	if !plan.Empty() {
		t.Fatalf("steady state must write nothing, got %+v", plan)
	}
	// A label change (another email) updates the policy in place.
	plan = planAccess([]cfapi.AccessApp{liveApp}, []cfapi.AccessPolicy{livePol}, []messages.DesiredApp{dapp("a.example.com", "team", "x@example.com", "y@example.com")}, stA, stP, settledSync)
	if len(plan.PolicyUpdates) != 1 || plan.PolicyUpdates[0].ID != "p1" || len(plan.PolicyCreates) != 0 || len(plan.AppUpdates) != 0 {
		t.Fatalf("want the policy updated in place, got %+v", plan)
	}
	// Nothing desired: app then policy deleted, only when allowed.
	plan = planAccess([]cfapi.AccessApp{liveApp}, []cfapi.AccessPolicy{livePol}, nil, stA, stP, settledSync)
	if len(plan.AppDeletes) != 1 || len(plan.PolicyDeletes) != 1 {
		t.Fatalf("want both deleted, got %+v", plan)
	}
	if plan = planAccess([]cfapi.AccessApp{liveApp}, []cfapi.AccessPolicy{livePol}, nil, stA, stP, WritePolicy{Mode: "upsert-only", Settled: true}); !plan.Empty() {
		t.Fatalf("upsert-only must not delete, got %+v", plan)
	}
}

func TestPlanAccessNeverTouchesForeign(t *testing.T) {
	foreignApp := cfapi.AccessApp{ID: "f1", Name: "their app", Domain: "a.example.com"}
	foreignPol := cfapi.AccessPolicy{ID: "fp", Name: "admins", Decision: "allow"}
	d := dapp("a.example.com", "team", "x@example.com")
	d2 := dapp("b.example.com", "adm", "x@example.com")
	d2.Policy.Name = "admins"
	plan := planAccess([]cfapi.AccessApp{foreignApp}, []cfapi.AccessPolicy{foreignPol}, []messages.DesiredApp{d, d2}, nil, nil, settledSync)
	if len(plan.AppCreates) != 0 || len(plan.AppUpdates) != 0 || len(plan.PolicyUpdates) != 0 || len(plan.Conflicts) != 2 {
		t.Fatalf("foreign objects must be conflicts, not writes: %+v", plan)
	}
	if !strings.Contains(plan.Conflicts[0], "admins") || !strings.Contains(plan.Conflicts[1], "a.example.com") {
		t.Fatalf("conflicts: %q", plan.Conflicts)
	}
	// Nothing desired: foreign objects are never deleted.
	if plan := planAccess([]cfapi.AccessApp{foreignApp}, []cfapi.AccessPolicy{foreignPol}, nil, nil, nil, settledSync); !plan.Empty() {
		t.Fatalf("foreign objects deleted: %+v", plan)
	}
}

func TestPlanAccessAdoptsOwnNamesAfterDatabaseLoss(t *testing.T) {
	livePol := cfapi.AccessPolicy{ID: "p1", Name: "labelgate:team", Decision: "allow", Include: []cfapi.Rule{{Kind: cfapi.RuleEmail, Value: "x@example.com"}}}
	liveApp := cfapi.AccessApp{ID: "a1", Name: "labelgate-team", Domain: "a.example.com", SessionDuration: "24h", Policies: []cfapi.AppPolicy{{ID: "p1", Precedence: 1}}}
	plan := planAccess([]cfapi.AccessApp{liveApp}, []cfapi.AccessPolicy{livePol}, []messages.DesiredApp{dapp("a.example.com", "team", "x@example.com")}, nil, nil, settledSync)
	if !plan.Empty() || len(plan.AdoptedApps) != 1 || len(plan.AdoptedPolicies) != 1 {
		t.Fatalf("want adoption without writes (no duplicates), got %+v", plan)
	}
}
