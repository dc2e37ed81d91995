package web

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/labelgate/labelgate/metrics"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ from the current output")

const testToken = "s3cret-token-0123456789abcdef"

// newTestServer returns a server over a fresh fake backend at testNow.
// token "" runs it without a configured token.
func newTestServer(t *testing.T, token string) (*server, *fakeBackend) {
	t.Helper()
	b := newFakeBackend()
	s := newServer(Config{Backend: b, Metrics: metrics.New(), Token: token, Version: "v1.2.3"}, func() time.Time { return testNow })
	return s, b
}

// newClockServer is newTestServer on a clock the test moves, with cfg's
// Backend and Token filled in when empty.
func newClockServer(t *testing.T, cfg Config) (*server, *fakeBackend, *testClock) {
	t.Helper()
	b, _ := cfg.Backend.(*fakeBackend)
	if b == nil {
		b = newFakeBackend()
		cfg.Backend = b
	}
	c := &testClock{t: testNow}
	return newServer(cfg, c.now), b, c
}

// testClock is a clock that moves only when the test says so.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// req describes one test request.
type req struct {
	method  string
	path    string
	body    string
	form    url.Values
	bearer  string
	cookies []*http.Cookie
	header  map[string]string
	// remote is the client's address (RemoteAddr); "" keeps httptest's
	// 192.0.2.1:1234.
	remote string
}

func (rq req) build(t *testing.T) *http.Request {
	t.Helper()
	method := rq.method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader = strings.NewReader(rq.body)
	if rq.form != nil {
		body = strings.NewReader(rq.form.Encode())
	}
	r := httptest.NewRequestWithContext(t.Context(), method, rq.path, body)
	if rq.form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if rq.bearer != "" {
		r.Header.Set("Authorization", "Bearer "+rq.bearer)
	}
	for _, c := range rq.cookies {
		r.AddCookie(c)
	}
	for k, v := range rq.header {
		r.Header.Set(k, v)
	}
	if rq.remote != "" {
		r.RemoteAddr = rq.remote
	}
	return r
}

func serve(t *testing.T, h http.Handler, rq req) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, rq.build(t))
	return w
}

func newRecorder(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// login logs in through the form and returns the session cookie and the
// CSRF token of the session.
func login(t *testing.T, s *server) (*http.Cookie, string) {
	t.Helper()
	w := serve(t, s, req{method: http.MethodPost, path: "/login", form: url.Values{"token": {testToken}}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("login: status %d, want 303; body:\n%s", w.Code, w.Body)
	}
	var cookie *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == sessionCookie {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatalf("login set no %s cookie", sessionCookie)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(cookie)
	sess, ok := s.auth.sessionFrom(r)
	if !ok {
		t.Fatalf("the login cookie is not a valid session")
	}
	return cookie, s.auth.csrfToken(sess)
}

// decodeJSON decodes a JSON response body into a generic value.
func decodeJSON(t *testing.T, w *httptest.ResponseRecorder) any {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want application/json; body:\n%s", ct, w.Body)
	}
	var v any
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("decoding the response: %v\n%s", err, w.Body)
	}
	return v
}

// errorMessage returns the "error" of a JSON error body.
func errorMessage(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	m, ok := decodeJSON(t, w).(map[string]any)
	if !ok {
		t.Fatalf("error body is not an object: %s", w.Body)
	}
	msg, _ := m["error"].(string)
	if msg == "" {
		t.Fatalf("error body has no message: %s", w.Body)
	}
	return msg
}

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got; run with -update if the change is intended):\n%s", path, diff)
	}
}

// mustContain fails unless body holds every substring.
func mustContain(t *testing.T, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(body, s) {
			t.Errorf("the body lacks %q", s)
		}
	}
	if t.Failed() {
		t.Logf("body:\n%s", body)
	}
}

func compact(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func decodeInto(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
}

// cookieNamed returns the cookie of that name the response set, or nil.
func cookieNamed(w *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}
