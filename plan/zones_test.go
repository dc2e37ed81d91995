package plan

import (
	"slices"
	"strings"
	"testing"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/config"
)

func TestAssignZonesOneCredentialPerZone(t *testing.T) {
	cfg := config.Defaults()
	cfg.Cloudflare.Credentials = map[string]config.Credential{
		"lab": {APIToken: "lab", Zones: []string{"example.com"}},
		"ops": {APIToken: "ops"},
	}
	r, err := cfg.CredentialRules()
	if err != nil {
		t.Fatal(err)
	}
	com := cfapi.Zone{ID: "z1", Name: "example.com", Status: "active"}
	org := cfapi.Zone{ID: "z2", Name: "example.org", Status: "active"}
	zones := map[string][]cfapi.Zone{"lab": {com, org}, "ops": {org, com}}
	owners, lost, notes := AssignZones(zones, r.Zone)
	if len(owners) != 2 || len(lost) != 0 {
		t.Fatalf("owners %v lost %v", owners, lost)
	}
	if o := owners["z1"]; o.Credential != "lab" || !slices.Equal(o.Visible, []string{"lab", "ops"}) {
		t.Errorf("example.com: %+v, want lab (its zones pattern covers it)", o)
	}
	if o := owners["z2"]; o.Credential != "lab" {
		t.Errorf("example.org: %+v, want lab (no pattern covers it, no default: the first by name)", o)
	}
	if len(notes) != 2 || !strings.Contains(notes[0], "zone example.com is visible to credentials lab, ops") {
		t.Errorf("notes: %q", notes)
	}
	// The same answer whatever order the lists arrive in.
	again, _, _ := AssignZones(map[string][]cfapi.Zone{"ops": {com, org}, "lab": {org, com}}, r.Zone)
	if again["z1"].Credential != "lab" || again["z2"].Credential != "lab" {
		t.Errorf("not deterministic: %+v", again)
	}

	// A record is placed with its credential's zones and written by the
	// zone's owner, whichever credential it named.
	o, problem := PlaceRecord("api.example.com", "ops", zones, owners, lost)
	if problem != "" || o.Zone.ID != "z1" || o.Credential != "lab" {
		t.Errorf("PlaceRecord = %+v %q", o, problem)
	}
	for _, tt := range []struct{ name, cred, want string }{
		{"api.example.com", "", "no credential"},
		{"api.example.com", "nope", `credential "nope" is not configured`},
		{"api.example.net", "lab", `no zone visible to credential "lab"`},
	} {
		if _, problem := PlaceRecord(tt.name, tt.cred, zones, owners, lost); !strings.Contains(problem, tt.want) {
			t.Errorf("PlaceRecord(%s, %q): problem %q, want %q", tt.name, tt.cred, problem, tt.want)
		}
	}

	// One domain under two ids (two accounts): the active one is kept, the
	// other is reported and records that land in it are refused.
	pending := cfapi.Zone{ID: "z0", Name: "example.com", Status: "pending"}
	zones = map[string][]cfapi.Zone{"lab": {com}, "ops": {pending}}
	owners, lost, _ = AssignZones(zones, r.Zone)
	if _, ok := owners["z1"]; !ok || len(owners) != 1 || !strings.Contains(lost["z0"], "not reconciled") {
		t.Fatalf("owners %v lost %v", owners, lost)
	}
	if _, problem := PlaceRecord("api.example.com", "ops", zones, owners, lost); !strings.Contains(problem, "z0") {
		t.Errorf("a record in the lost zone: %q", problem)
	}
}
