package claims

import "testing"

func TestAccessPath(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{`^/webhook(/|$)`, "/webhook"},
		{`^/webhook/`, "/webhook"},
		{`^/webhook/.*`, "/webhook"},
		{`^/webhook$`, "/webhook"},
		{`^/api/v1(/|$)`, "/api/v1"},
		{`^/files\.d/`, "/files.d"},
		{`^/webhook`, ""},    // no boundary: it also routes /webhooks
		{`/webhook/`, ""},    // unanchored
		{`\.(jpg|png)$`, ""}, // not a prefix
		{`^/web.*hook/`, ""}, // a pattern, not a literal
		{`^/(a|b)/`, ""},     // alternatives
		{`^/`, ""},           // the whole hostname: no path of its own
		{`^/a b/`, ""},       // not a URL path
	} {
		if got := AccessPath(tc.path); got != tc.want {
			t.Errorf("AccessPath(%q) = %q, want %q", tc.path, got, tc.want)
		}
		if ok := accessPathOK(tc.path); ok != (tc.want != "") {
			t.Errorf("accessPathOK(%q) = %t", tc.path, ok)
		}
	}
}
