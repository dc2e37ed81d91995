package cfapi_test

import (
	"testing"

	"github.com/labelgate/labelgate/cfapi"
)

// Path-scoped Access applications, created through the real SDK: cfsim
// answers which application governs each probe URL the way Cloudflare
// documents application paths (the most specific application applies).
func TestAccessApplicationPathsMostSpecificWins(t *testing.T) {
	s, c := newClient(t)
	ctx := ctxT(t)
	pol, err := c.CreateAccessPolicy(ctx, cfapi.AccessPolicy{Name: "team", Decision: "allow", Include: []cfapi.Rule{{Kind: cfapi.RuleEmailDomain, Value: "example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"n8n.example.com", "n8n.example.com/webhook", "*.example.com", "example.com/eng", "example.com/eng/exec"} {
		if _, err := c.CreateAccessApp(ctx, cfapi.AccessApp{Name: "app " + d, Domain: d, SessionDuration: "24h",
			Policies: []cfapi.AppPolicy{{ID: pol.ID, Precedence: 1}}, Tags: []string{}}); err != nil {
			t.Fatalf("create app %s: %v", d, err)
		}
	}
	for _, tc := range []struct{ host, path, want string }{
		{"n8n.example.com", "/", "n8n.example.com"},
		{"n8n.example.com", "/settings", "n8n.example.com"},
		{"n8n.example.com", "/webhook", "n8n.example.com/webhook"},
		{"n8n.example.com", "/webhook/abc", "n8n.example.com/webhook"},
		{"n8n.example.com", "/webhooks", "n8n.example.com"}, // a path covers whole segments only
		{"N8N.example.com", "/webhook/x", "n8n.example.com/webhook"},
		{"grafana.example.com", "/", "*.example.com"},
		{"a.b.example.com", "/", "*.example.com"},
		{"example.com", "/eng", "example.com/eng"},
		{"example.com", "/eng/exec/report", "example.com/eng/exec"},
		{"example.com", "/engineering", ""},
		{"example.com", "/", ""}, // the wildcard does not cover the apex
		{"example.org", "/", ""},
	} {
		app, ok := s.GoverningApp(tc.host, tc.path)
		got := ""
		if ok {
			got = app.Domain
		}
		if got != tc.want {
			t.Errorf("%s%s is governed by %q, want %q", tc.host, tc.path, got, tc.want)
		}
	}
}
