package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/labelgate/labelgate/messages"
)

// TestDashboardPages renders every page with a session and checks that it
// answers the operator's questions.
func TestDashboardPages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path    string
		refresh string
		want    []string
	}{
		{"/", "5", []string{
			"<title>Overview · Labelgate</title>", "Ready", "v1.2.3",
			// conflicts with whom, pending deletes and when, stale agents, last errors
			"app.example.com", "agent-b/app (app)", "old.example.com", "in 4m 0s",
			`<span class="state stale">stale</span>`, "HTTP 429: rate limited", "zone example.com",
			"tunnel:default", "30s ago", `action="/actions/resync"`,
			`Tunnels carrying routes with no connector</a></dt><dd id="tunnels-without-connector">1</dd>`,
		}},
		{"/hostnames", "5", []string{
			`data-hostname="app.example.com"`, `data-hostname="far.example.com"`, `<span class="state frozen">frozen</span>`,
			"local/web-1 (web)", `action="/actions/pending-deletes/old.example.com/cancel"`,
			"labelgate.tunnel.web.service", "all (4)", `id="label-errors"`, "active (2)", "<td>Swarm service stack_api</td>",
		}},
		{"/hostnames?state=leaving", "5", []string{`data-hostname="old.example.com"`, "in 4m 0s"}},
		{"/tunnels", "30", []string{
			`data-tunnel="default"`, "http://web-1:8080", `<span class="badge owned">owned</span>`,
			`<span class="badge foreign">foreign</span>`, "(catch-all)", "reading the tunnel configuration: HTTP 403",
			`<span class="state healthy">healthy</span>`, "2 active connections", "ams01", "fra02", "203.0.113.7", "2025.11.1",
			`<span class="badge warn">pending reconnect</span>`, `<span class="state down">down</span>`,
			"No connector: the route on this tunnel is unreachable", "Reading the connectors failed (the last reading is shown): reading the tunnel: HTTP 500",
		}},
		{"/dns", "30", []string{`data-zone="example.com"`, "mail.example.com", "MX", "2 records, 1 owned", "auto"}},
		{"/access", "30", []string{"labelgate app.example.com", "labelgate staff", "Admins"}},
		{"/agents", "5", []string{
			`data-agent="agent-a"`, `data-agent="agent-b"`, "10.0.0.7:41234", "hostnames: *.lab.example.com; zones: example.com; tunnels: edge",
			"edge <small class=\"muted\">(main)</small>", "default <small class=\"muted\">(announced)</small>",
			`action="/actions/agents/agent-b/decommission"`, "data-confirm=",
			`default <small class="muted">(3)</small> <span class="state healthy" title="healthy">connector</span>`,
			`edge <small class="muted">(1)</small> <span class="state down" title="down" data-no-connector>no connector</span>`,
		}},
		{"/events", "5", []string{`data-event="3"`, `data-event="1"`, "agent-b/app waits for local/web-1", `href="/events?hostname=app.example.com"`}},
		{"/events?limit=2", "5", []string{`data-event="3"`, `href="/events?before=2"`}},
		{"/events?before=3&hostname=app.example.com", "0", []string{`data-event="1"`, "newest"}},
		{"/plan", "0", []string{"+ create CNAME api.example.com", "~ update app.example.com → http://web-1:8080",
			"! conflict mail.example.com: foreign MX record", "listing Access applications: HTTP 500"}},
	}
	s, _ := newTestServer(t, testToken)
	c, csrf := login(t, s)
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			w := serve(t, s, req{path: tt.path, cookies: []*http.Cookie{c}})
			if w.Code != http.StatusOK {
				t.Fatalf("status %d; body:\n%s", w.Code, w.Body)
			}
			h := w.Header()
			if !strings.HasPrefix(h.Get("Content-Type"), "text/html") || h.Get("Content-Security-Policy") == "" ||
				h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" {
				t.Errorf("headers %v lack the page security headers", h)
			}
			body := w.Body.String()
			mustContain(t, body, append(tt.want, `data-refresh="`+tt.refresh+`"`, `<main id="content">`)...)
			if strings.Contains(body, "action=") && !strings.Contains(body, `value="`+csrf+`"`) {
				t.Error("the page's forms lack the session's CSRF token")
			}
			if strings.Contains(body, " disabled") {
				t.Error("actions are disabled although a token is configured")
			}
		})
	}
}

// TestDashboardAgentButtons: a decommissioned agent offers Enable (with a
// confirmation), the others Decommission.
func TestDashboardAgentButtons(t *testing.T) {
	t.Parallel()
	s, b := newTestServer(t, testToken)
	b.set(func(f *fakeBackend) { f.agents[1].State = "decommissioned" })
	c, csrf := login(t, s)
	w := serve(t, s, req{path: "/agents", cookies: []*http.Cookie{c}})
	if w.Code != http.StatusOK {
		t.Fatalf("status %d; body:\n%s", w.Code, w.Body)
	}
	body := w.Body.String()
	mustContain(t, body,
		`action="/actions/agents/agent-a/decommission"`,
		`action="/actions/agents/agent-b/enable" class="inline" data-confirm="Enable agent agent-b again?`,
		`value="`+csrf+`"`, ">Enable</button>")
	for _, absent := range []string{`action="/actions/agents/agent-b/decommission"`, `action="/actions/agents/agent-a/enable"`} {
		if strings.Contains(body, absent) {
			t.Errorf("the Agents page offers %s", absent)
		}
	}
}

func TestDashboardReadOnly(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, "")
	w := serve(t, s, req{path: "/"})
	if w.Code != http.StatusOK {
		t.Fatalf("without a token the dashboard is open; status %d", w.Code)
	}
	body := w.Body.String()
	mustContain(t, body, "read-only", "Actions are disabled: no API token is configured", `disabled title="Actions are disabled`)
	if strings.Contains(body, `action="/logout"`) {
		t.Error("a read-only dashboard offers a logout")
	}
}

func TestDashboardEscapes(t *testing.T) {
	t.Parallel()
	s, b := newTestServer(t, "")
	evil := `<script>alert("x")</script>`
	b.set(func(f *fakeBackend) {
		f.hostnames = append(f.hostnames, HostnameView{HostnameState: messages.HostnameState{
			Hostname: "x.example.com", State: "refused", Error: evil,
			Winner: messages.Owner{Source: "local", Container: `"><img src=x onerror=alert(1)>`},
		}})
	})
	body := serve(t, s, req{path: "/hostnames"}).Body.String()
	if strings.Contains(body, evil) || strings.Contains(body, "<img src=x") {
		t.Fatalf("unescaped backend text in the page:\n%s", body)
	}
	mustContain(t, body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;")
}

func TestDashboardBackendError(t *testing.T) {
	t.Parallel()
	s, b := newTestServer(t, "")
	b.set(func(f *fakeBackend) { f.readErr = errors.New("the registry is restarting") })
	w := serve(t, s, req{path: "/agents"})
	if w.Code != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", w.Code)
	}
	mustContain(t, w.Body.String(), "reading agents: the registry is restarting", `<main id="content">`)
}

func TestDashboardBadQuery(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, "")
	w := serve(t, s, req{path: "/events?limit=nope"})
	if w.Code != http.StatusBadRequest {
		t.Errorf("status %d, want 400", w.Code)
	}
	mustContain(t, w.Body.String(), "limit must be a whole number")
}

// TestDashboardActions submits each form and follows the redirect to see
// the flash message once.
func TestDashboardActions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		path  string
		flash string
		ok    bool
	}{
		{"resync", "/actions/resync", "every planner will reconcile now", true},
		{"keep", "/actions/pending-deletes/old.example.com/cancel", "the delete of old.example.com is cancelled", true},
		{"keep unknown", "/actions/pending-deletes/nope.example.com/cancel", "the action failed: not found", false},
		{"decommission", "/actions/agents/agent-b/decommission", "agent agent-b is decommissioned", true},
		{"decommission unknown", "/actions/agents/nope/decommission", "the action failed: not found", false},
		{"enable", "/actions/agents/agent-b/enable", "agent agent-b is enabled", true},
		{"enable unknown", "/actions/agents/nope/enable", "the action failed: not found", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newTestServer(t, testToken)
			c, csrf := login(t, s)
			w := serve(t, s, req{method: "POST", path: tt.path, cookies: []*http.Cookie{c},
				form: url.Values{"csrf": {csrf}, "next": {"/hostnames?state=leaving"}}})
			if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/hostnames?state=leaving" {
				t.Fatalf("status %d Location %q, want 303 back to the page", w.Code, w.Header().Get("Location"))
			}
			var fc *http.Cookie
			for _, rc := range w.Result().Cookies() {
				if rc.Name == flashCookie {
					fc = rc
				}
			}
			if fc == nil {
				t.Fatal("no flash cookie")
			}
			w = serve(t, s, req{path: "/hostnames?state=leaving", cookies: []*http.Cookie{c, fc}})
			class := map[bool]string{true: "flash ok", false: "flash bad"}[tt.ok]
			mustContain(t, w.Body.String(), `<p class="`+class+`" role="status">`, tt.flash)
			cleared := false
			for _, rc := range w.Result().Cookies() {
				cleared = cleared || (rc.Name == flashCookie && rc.MaxAge < 0)
			}
			if !cleared {
				t.Error("the flash cookie is not cleared after it was shown")
			}
		})
	}
}

func TestDashboardNotFoundAndStatic(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, "")
	w := serve(t, s, req{path: "/nothing-here"})
	if w.Code != http.StatusNotFound || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Errorf("unknown page: status %d type %q, want a 404 page", w.Code, w.Header().Get("Content-Type"))
	}
	for path, typ := range map[string]string{"/static/dashboard.js": "text/javascript", "/static/style.css": "text/css"} {
		w := serve(t, s, req{path: path})
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), typ) {
			t.Errorf("GET %s: status %d type %q", path, w.Code, w.Header().Get("Content-Type"))
		}
	}
}

func TestRelative(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "now"},
		{-30 * time.Second, "30s ago"},
		{4 * time.Minute, "in 4m 0s"},
		{-(2*time.Hour + 5*time.Minute), "2h 5m ago"},
		{-(50 * time.Hour), "2d 2h ago"},
	} {
		if got := relative(testNow, testNow.Add(tt.d)); got != tt.want {
			t.Errorf("relative(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
	if got := relative(testNow, time.Time{}); got != "never" {
		t.Errorf("relative(zero) = %q, want never", got)
	}
}
