package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labelgate/labelgate/messages"
	"github.com/labelgate/labelgate/metrics"
)

// TestBrowserDashboard drives the dashboard in chromium: log in, open
// Hostnames, start a "container" in the fake backend, see its hostname
// appear by auto-refresh (without a page reload), keep a hostname that
// waits to be deleted, enable a decommissioned agent, log out (which ends
// the session on the server), and save screenshots as artifacts.
func TestBrowserDashboard(t *testing.T) {
	requireBrowser(t)
	// The server runs on the real clock here, so the fixture does too.
	backend := newFakeBackendAt(time.Now())
	srv := httptest.NewServer(New(Config{Backend: backend, Metrics: metrics.New(), Token: testToken, Version: "v-browser"}))
	t.Cleanup(srv.Close)

	b := newBrowser(t, srv.URL)

	// Without a session the dashboard sends us to the login form.
	b.open("/hostnames")
	b.waitVisible("#token", 10*time.Second)

	b.login(testToken, "/hostnames")
	b.waitVisible(`tr[data-hostname="app.example.com"]`, 10*time.Second)
	if n := b.count(`tr[data-hostname="new.example.com"]`); n != 0 {
		t.Fatalf("new.example.com is shown before its container started (%d rows)", n)
	}
	// A marker on window survives an in-place refresh but not a reload.
	eval[bool](b, "window.labelgateMarker = true")

	// A labelled container starts: the registry now has its hostname.
	backend.set(func(f *fakeBackend) {
		f.hostnames = append(f.hostnames, HostnameView{
			HostnameState: messages.HostnameState{
				Hostname: "new.example.com", State: "active", Kinds: []string{"tunnel", "dns"}, Tunnel: "default",
				Winner: messages.Owner{Source: "local", Container: "new-1", Service: "new"},
			},
			Zone: "example.com",
		})
	})
	b.waitVisible(`tr[data-hostname="new.example.com"]`, time.Duration(refreshState+10)*time.Second)
	if !eval[bool](b, "window.labelgateMarker === true") {
		t.Error("the page was reloaded; auto-refresh should replace the content in place")
	}
	if got := eval[string](b, `document.querySelector('tr[data-hostname="new.example.com"] .state').textContent`); got != "active" {
		t.Errorf("new.example.com shows state %q, want active", got)
	}
	b.screenshot("hostnames")

	// Keep a hostname that waits to be deleted: a real form POST with the
	// CSRF token, through the confirmation dialog.
	eval[bool](b, "window.confirm = function () { return true; }, true")
	b.click(`tr[data-pending="old.example.com"] button`)
	b.waitVisible(".flash.ok", 10*time.Second)
	backend.mu.Lock()
	cancelled := append([]string(nil), backend.cancelled...)
	backend.mu.Unlock()
	if len(cancelled) != 1 || cancelled[0] != "old.example.com" {
		t.Errorf("cancelled = %v, want [old.example.com]", cancelled)
	}
	if n := b.count(`tr[data-pending="old.example.com"]`); n != 0 {
		t.Errorf("old.example.com is still listed as pending after Keep")
	}

	b.open("/")
	b.waitVisible("#status", 10*time.Second)
	b.screenshot("overview")
	// A decommissioned agent offers Enable: a form POST through the
	// confirmation dialog, as Keep above.
	backend.set(func(f *fakeBackend) { f.agents[1].State = "decommissioned" })
	b.open("/agents")
	b.waitVisible(`tr[data-agent="agent-b"][data-state="decommissioned"]`, 10*time.Second)
	b.screenshot("agents")
	eval[bool](b, "window.confirm = function () { return true; }, true")
	b.click(`tr[data-agent="agent-b"] form[action="/actions/agents/agent-b/enable"] button`)
	b.waitVisible(".flash.ok", 10*time.Second)
	backend.mu.Lock()
	enabled := append([]string(nil), backend.enabled...)
	backend.mu.Unlock()
	if len(enabled) != 1 || enabled[0] != "agent-b" {
		t.Errorf("enabled = %v, want [agent-b]", enabled)
	}

	// Logging out ends the session on the server: the cookie the browser
	// held before is refused afterwards.
	cookie := eval[string](b, "document.cookie") // HttpOnly: not visible to the page
	if cookie != "" && strings.Contains(cookie, sessionCookie) {
		t.Errorf("the session cookie is visible to JavaScript: %q", cookie)
	}
	held := b.sessionCookie()
	b.click(`form[action="/logout"] button`)
	b.waitVisible("#token", 10*time.Second)
	r, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/api/v1/overview", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.AddCookie(&http.Cookie{Name: sessionCookie, Value: held})
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("the session cookie after logout: status %d, want 401", res.StatusCode)
	}
}
