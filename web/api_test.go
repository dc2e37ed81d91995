package web

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/labelgate/labelgate/store"
)

// TestAPIGolden pins the JSON shape of every read endpoint: each answer is
// compared with testdata/api/<name>.json.
func TestAPIGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		path string
	}{
		{"overview", "/api/v1/overview"},
		{"hostnames", "/api/v1/hostnames"},
		{"hostnames_leaving", "/api/v1/hostnames?state=leaving"},
		{"hostname", "/api/v1/hostnames/app.example.com"},
		{"tunnels", "/api/v1/tunnels"},
		{"dns_records", "/api/v1/dns-records"},
		{"access", "/api/v1/access"},
		{"agents", "/api/v1/agents"},
		{"agent", "/api/v1/agents/agent-b"},
		{"conflicts", "/api/v1/conflicts"},
		{"label_errors", "/api/v1/label-errors"},
		{"pending_deletes", "/api/v1/pending-deletes"},
		{"events", "/api/v1/events"},
		{"events_page", "/api/v1/events?limit=2"},
		{"events_hostname", "/api/v1/events?hostname=app.example.com&before=3"},
		{"plan", "/api/v1/plan"},
		{"healthz", "/healthz"},
		{"readyz", "/readyz"},
	}
	s, _ := newTestServer(t, testToken)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := serve(t, s, req{path: tt.path, bearer: testToken})
			if w.Code != http.StatusOK {
				t.Fatalf("GET %s: status %d, want 200; body:\n%s", tt.path, w.Code, w.Body)
			}
			decodeJSON(t, w)
			if got := w.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", got)
			}
			golden(t, "api/"+tt.name+".json", w.Body.Bytes())
		})
	}
}

// Empty lists are [] and not null, so clients can iterate without checks.
func TestAPIEmptyListsAreArrays(t *testing.T) {
	t.Parallel()
	b := &fakeBackend{}
	s := newServer(Config{Backend: b}, func() time.Time { return testNow })
	for path, want := range map[string]string{
		"/api/v1/hostnames":       `{"hostnames":[]}`,
		"/api/v1/tunnels":         `{"tunnels":[]}`,
		"/api/v1/dns-records":     `{"records":[]}`,
		"/api/v1/access":          `{"apps":[],"policies":[]}`,
		"/api/v1/agents":          `{"agents":[]}`,
		"/api/v1/conflicts":       `{"conflicts":[]}`,
		"/api/v1/label-errors":    `{"label_errors":[]}`,
		"/api/v1/pending-deletes": `{"pending_deletes":[]}`,
		"/api/v1/events":          `{"events":[]}`,
		"/api/v1/plan":            `{"planners":[]}`,
	} {
		w := serve(t, s, req{path: path})
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: status %d", path, w.Code)
		}
		if got := compact(t, w.Body.Bytes()); got != want {
			t.Errorf("GET %s = %s, want %s", path, got, want)
		}
	}
}

func TestAPINotFound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, path, want string
	}{
		{"unknown hostname", "GET", "/api/v1/hostnames/nope.example.com", `no container claims the hostname "nope.example.com"`},
		{"unknown agent", "GET", "/api/v1/agents/nope", `main knows no agent named "nope"`},
		{"cancel unknown hostname", "POST", "/api/v1/pending-deletes/nope.example.com/cancel", "not found"},
		{"decommission unknown agent", "POST", "/api/v1/agents/nope/decommission", "not found"},
		{"enable unknown agent", "POST", "/api/v1/agents/nope/enable", "enabling agent \"nope\": not found"},
		{"unknown endpoint", "GET", "/api/v1/nothing", "there is no such page or endpoint: /api/v1/nothing"},
	}
	s, _ := newTestServer(t, testToken)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := serve(t, s, req{method: tt.method, path: tt.path, bearer: testToken})
			if w.Code != http.StatusNotFound {
				t.Fatalf("status %d, want 404; body:\n%s", w.Code, w.Body)
			}
			if msg := errorMessage(t, w); !strings.Contains(msg, tt.want) {
				t.Errorf("error %q lacks %q", msg, tt.want)
			}
		})
	}
}

func TestAPIMethodNotAllowed(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, testToken)
	w := serve(t, s, req{method: http.MethodGet, path: "/api/v1/resync", bearer: testToken})
	if w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET /api/v1/resync: status %d, want 405", w.Code)
	}
	if got := w.Header().Get("Allow"); got != "POST" {
		t.Errorf("Allow %q, want POST", got)
	}
	errorMessage(t, w)
}

func TestAPIActions(t *testing.T) {
	t.Parallel()
	s, b := newTestServer(t, testToken)

	w := serve(t, s, req{method: http.MethodPost, path: "/api/v1/resync", bearer: testToken})
	if w.Code != http.StatusAccepted {
		t.Fatalf("resync: status %d, want 202; body:\n%s", w.Code, w.Body)
	}
	if got, want := compact(t, w.Body.Bytes()), `{"action":"resync","message":"every planner will reconcile now"}`; got != want {
		t.Errorf("resync answered %s, want %s", got, want)
	}

	w = serve(t, s, req{method: http.MethodPost, path: "/api/v1/pending-deletes/Old.Example.com/cancel", bearer: testToken})
	if w.Code != http.StatusOK {
		t.Fatalf("cancel: status %d, want 200; body:\n%s", w.Code, w.Body)
	}
	if got, want := compact(t, w.Body.Bytes()),
		`{"action":"cancel_delete","target":"old.example.com","message":"the delete of old.example.com is cancelled; its objects are retained"}`; got != want {
		t.Errorf("cancel answered %s, want %s", got, want)
	}

	w = serve(t, s, req{method: http.MethodPost, path: "/api/v1/agents/agent-b/decommission", bearer: testToken})
	if w.Code != http.StatusOK {
		t.Fatalf("decommission: status %d, want 200; body:\n%s", w.Code, w.Body)
	}

	// Enabling re-admits the decommissioned agent; enabling one that is
	// not decommissioned succeeds and changes nothing.
	w = serve(t, s, req{method: http.MethodPost, path: "/api/v1/agents/agent-b/enable", bearer: testToken})
	if w.Code != http.StatusOK {
		t.Fatalf("enable: status %d, want 200; body:\n%s", w.Code, w.Body)
	}
	if got, want := compact(t, w.Body.Bytes()),
		`{"action":"enable","target":"agent-b","message":"agent agent-b is enabled: main accepts it again, and its hostnames come back once it reports its containers"}`; got != want {
		t.Errorf("enable answered %s, want %s", got, want)
	}
	w = serve(t, s, req{method: http.MethodPost, path: "/api/v1/agents/agent-a/enable", bearer: testToken})
	if w.Code != http.StatusOK {
		t.Fatalf("enable a connected agent: status %d, want 200; body:\n%s", w.Code, w.Body)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.resyncs != 1 {
		t.Errorf("resyncs = %d, want 1", b.resyncs)
	}
	if diff := cmp.Diff([]string{"old.example.com"}, b.cancelled); diff != "" {
		t.Errorf("cancelled (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"agent-b"}, b.decommissioned); diff != "" {
		t.Errorf("decommissioned (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"agent-b", "agent-a"}, b.enabled); diff != "" {
		t.Errorf("enabled (-want +got):\n%s", diff)
	}
	states := map[string]string{}
	for _, a := range b.agents {
		states[a.Name] = a.State
	}
	if diff := cmp.Diff(map[string]string{"agent-a": "connected", "agent-b": "disconnected"}, states); diff != "" {
		t.Errorf("agent states after decommission and enable (-want +got):\n%s", diff)
	}
}

func TestAPIEventsQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		query   string
		status  int
		want    store.EventQuery
		wantErr string
	}{
		{name: "defaults", query: "", status: 200, want: store.EventQuery{Limit: store.DefaultEventLimit}},
		{name: "all params", query: "?limit=5&before=42&hostname=App.Example.com", status: 200,
			want: store.EventQuery{Limit: 5, BeforeID: 42, Hostname: "app.example.com"}},
		{name: "limit max", query: "?limit=1000", status: 200, want: store.EventQuery{Limit: 1000}},
		{name: "limit zero", query: "?limit=0", status: 400, wantErr: "limit must be a whole number from 1 to 1000"},
		{name: "limit too big", query: "?limit=1001", status: 400, wantErr: "limit must be"},
		{name: "limit text", query: "?limit=ten", status: 400, wantErr: `not "ten"`},
		{name: "before negative", query: "?before=-1", status: 400, wantErr: "before must be an event id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, b := newTestServer(t, "")
			w := serve(t, s, req{path: "/api/v1/events" + tt.query})
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body:\n%s", w.Code, tt.status, w.Body)
			}
			if tt.wantErr != "" {
				if msg := errorMessage(t, w); !strings.Contains(msg, tt.wantErr) {
					t.Errorf("error %q lacks %q", msg, tt.wantErr)
				}
				return
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			if diff := cmp.Diff([]store.EventQuery{tt.want}, b.eventQueries); diff != "" {
				t.Errorf("backend queries (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAPIBackendFailures(t *testing.T) {
	t.Parallel()
	t.Run("error", func(t *testing.T) {
		t.Parallel()
		s, b := newTestServer(t, "")
		b.set(func(f *fakeBackend) { f.readErr = errors.New("the registry is restarting") })
		w := serve(t, s, req{path: "/api/v1/hostnames"})
		if w.Code != http.StatusInternalServerError {
			t.Fatalf("status %d, want 500", w.Code)
		}
		if got, want := errorMessage(t, w), "listing hostnames: the registry is restarting"; got != want {
			t.Errorf("error %q, want %q", got, want)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		s, b := newTestServer(t, "")
		b.set(func(f *fakeBackend) { f.blockReads = true })
		rq := req{path: "/api/v1/tunnels"}.build(t)
		ctx, cancel := context.WithDeadline(rq.Context(), time.Now().Add(50*time.Millisecond))
		defer cancel()
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, rq.WithContext(ctx))
		if rec.Code != http.StatusGatewayTimeout {
			t.Fatalf("status %d, want 504", rec.Code)
		}
		if got := errorMessage(t, rec); !strings.Contains(got, "main did not answer within") {
			t.Errorf("error %q does not say the backend timed out", got)
		}
	})
}
