package web

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestAuthMatrix checks who may do what: no token configured or a token
// configured, times the credentials a request can present, times a read,
// an action and the unauthenticated endpoints.
func TestAuthMatrix(t *testing.T) {
	t.Parallel()
	type creds int
	const (
		none creds = iota
		bearer
		wrongBearer
		cookie
		cookieCSRF // cookie plus the session's X-CSRF-Token header
		wrongCookie
	)
	credName := map[creds]string{none: "none", bearer: "bearer", wrongBearer: "wrong bearer",
		cookie: "cookie", cookieCSRF: "cookie+csrf", wrongCookie: "forged cookie"}
	endpoints := []struct {
		kind   string
		method string
		path   string
		ok     int // the status of a success
	}{
		{"read", "GET", "/api/v1/hostnames", 200},
		{"action", "POST", "/api/v1/resync", 202},
		{"action", "POST", "/api/v1/agents/agent-a/enable", 200},
		{"open", "GET", "/healthz", 200},
		{"open", "GET", "/readyz", 200},
		{"open", "GET", "/metrics", 200},
	}
	const ok = 0 // in want: the endpoint's success status
	// want[tokenConfigured][kind][creds] = status
	want := map[bool]map[string]map[creds]int{
		false: {
			"read":   {none: ok, bearer: ok, wrongBearer: ok, cookie: ok, cookieCSRF: ok, wrongCookie: ok},
			"action": {none: 403, bearer: 403, wrongBearer: 403, cookie: 403, cookieCSRF: 403, wrongCookie: 403},
			"open":   {none: ok, bearer: ok, wrongBearer: ok, cookie: ok, cookieCSRF: ok, wrongCookie: ok},
		},
		true: {
			"read":   {none: 401, bearer: ok, wrongBearer: 401, cookie: ok, cookieCSRF: ok, wrongCookie: 401},
			"action": {none: 401, bearer: ok, wrongBearer: 401, cookie: 403, cookieCSRF: ok, wrongCookie: 401},
			"open":   {none: ok, bearer: ok, wrongBearer: ok, cookie: ok, cookieCSRF: ok, wrongCookie: ok},
		},
	}
	for _, configured := range []bool{false, true} {
		token := ""
		if configured {
			token = testToken
		}
		s, _ := newTestServer(t, token)
		// A session cookie is valid only where a token is configured; the
		// "no token" server gets one signed by another server to show that
		// it is ignored.
		signer := s
		if !configured {
			signer, _ = newTestServer(t, testToken)
		}
		good, csrf := login(t, signer)
		forged := &http.Cookie{Name: sessionCookie, Value: "v1.9999999999.bm9uY2U.forged"}

		for _, ep := range endpoints {
			for c := none; c <= wrongCookie; c++ {
				name := fmt.Sprintf("token=%v/%s %s/%s", configured, ep.method, ep.path, credName[c])
				t.Run(name, func(t *testing.T) {
					rq := req{method: ep.method, path: ep.path}
					switch c {
					case bearer:
						rq.bearer = testToken
					case wrongBearer:
						rq.bearer = "not-the-token"
					case cookie:
						rq.cookies = []*http.Cookie{good}
					case cookieCSRF:
						rq.cookies = []*http.Cookie{good}
						rq.header = map[string]string{csrfHeader: csrf}
					case wrongCookie:
						rq.cookies = []*http.Cookie{forged}
					}
					w := serve(t, s, rq)
					want := want[configured][ep.kind][c]
					if want == ok {
						want = ep.ok
					}
					if got := w.Code; got != want {
						t.Fatalf("status %d, want %d; body:\n%s", got, want, w.Body)
					}
					switch w.Code {
					case http.StatusUnauthorized:
						if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), `Bearer realm="labelgate"`) {
							t.Errorf("401 without WWW-Authenticate: %q", w.Header().Get("WWW-Authenticate"))
						}
						errorMessage(t, w)
					case http.StatusForbidden:
						msg := errorMessage(t, w)
						if !configured && !strings.Contains(msg, "set LABELGATE_API_TOKEN") {
							t.Errorf("a read-only refusal should say how to enable actions: %q", msg)
						}
					}
				})
			}
		}
	}
}

func TestWrongBearerChallenge(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, testToken)
	w := serve(t, s, req{path: "/api/v1/overview", bearer: "nope"})
	if got, want := w.Header().Get("WWW-Authenticate"), `Bearer realm="labelgate", error="invalid_token"`; got != want {
		t.Errorf("WWW-Authenticate %q, want %q", got, want)
	}
	w = serve(t, s, req{path: "/api/v1/overview", header: map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}})
	if w.Code != http.StatusUnauthorized {
		t.Errorf("basic auth: status %d, want 401", w.Code)
	}
}

func TestLoginLogout(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, testToken)

	// A page without a session redirects to the login form, keeping the
	// page to come back to.
	w := serve(t, s, req{path: "/hostnames?state=active"})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("GET /hostnames without a session: status %d, want 303", w.Code)
	}
	if got, want := w.Header().Get("Location"), "/login?next="+url.QueryEscape("/hostnames?state=active"); got != want {
		t.Errorf("Location %q, want %q", got, want)
	}
	w = serve(t, s, req{path: "/login?next=/hostnames"})
	if w.Code != http.StatusOK {
		t.Fatalf("GET /login: status %d", w.Code)
	}
	mustContain(t, w.Body.String(), `name="token"`, `type="password"`, `value="/hostnames"`)

	// A wrong token is refused and sets no cookie.
	w = serve(t, s, req{method: "POST", path: "/login", form: url.Values{"token": {"guess"}, "next": {"/hostnames"}}})
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("wrong token: status %d, want 401", w.Code)
	}
	if len(w.Result().Cookies()) != 0 {
		t.Errorf("a failed login set cookies: %v", w.Result().Cookies())
	}
	mustContain(t, w.Body.String(), "That is not the API token.")

	// The right token sets a session cookie and goes to next.
	w = serve(t, s, req{method: "POST", path: "/login", form: url.Values{"token": {testToken}, "next": {"/hostnames"}}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/hostnames" {
		t.Fatalf("login: status %d Location %q, want 303 /hostnames", w.Code, w.Header().Get("Location"))
	}
	var c *http.Cookie
	for _, rc := range w.Result().Cookies() {
		if rc.Name == sessionCookie {
			c = rc
		}
	}
	if c == nil {
		t.Fatal("no session cookie")
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/, not Secure over plain HTTP", c)
	}
	if strings.Contains(c.Value, testToken) {
		t.Error("the session cookie carries the token itself")
	}

	// With the cookie, pages render and show the logout form.
	w = serve(t, s, req{path: "/hostnames", cookies: []*http.Cookie{c}})
	if w.Code != http.StatusOK {
		t.Fatalf("GET /hostnames with a session: status %d", w.Code)
	}
	mustContain(t, w.Body.String(), `action="/logout"`)
	// A logged-in visit to /login goes on to next.
	w = serve(t, s, req{path: "/login?next=/agents", cookies: []*http.Cookie{c}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/agents" {
		t.Errorf("GET /login logged in: status %d Location %q", w.Code, w.Header().Get("Location"))
	}

	// Logout needs the CSRF token, then clears the cookie.
	w = serve(t, s, req{method: "POST", path: "/logout", cookies: []*http.Cookie{c}})
	if w.Code != http.StatusForbidden {
		t.Errorf("logout without csrf: status %d, want 403", w.Code)
	}
	r := req{path: "/"}.build(t)
	r.AddCookie(c)
	sess, _ := s.auth.sessionFrom(r)
	csrf := s.auth.csrfToken(sess)
	w = serve(t, s, req{method: "POST", path: "/logout", cookies: []*http.Cookie{c}, form: url.Values{"csrf": {csrf}}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login" {
		t.Fatalf("logout: status %d Location %q, want 303 /login", w.Code, w.Header().Get("Location"))
	}
	cleared := false
	for _, rc := range w.Result().Cookies() {
		if rc.Name == sessionCookie && rc.MaxAge < 0 {
			cleared = true
		}
	}
	if !cleared {
		t.Error("logout did not clear the session cookie")
	}
}

// TestSessionCookieSecure: the session cookie (and its clearing at logout)
// is Secure over TLS, and always when main is behind a TLS-terminating
// proxy (api.behind_tls), where main itself sees plain HTTP.
func TestSessionCookieSecure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		behindTLS bool
		tls       bool
		want      bool
	}{
		{name: "plain HTTP", want: false},
		{name: "TLS", tls: true, want: true},
		{name: "behind a TLS proxy", behindTLS: true, want: true},
		{name: "behind a TLS proxy, TLS as well", behindTLS: true, tls: true, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _, _ := newClockServer(t, Config{Token: testToken, BehindTLS: tt.behindTLS})
			send := func(rq req, cookies ...*http.Cookie) *http.Cookie {
				t.Helper()
				r := rq.build(t)
				for _, c := range cookies {
					r.AddCookie(c)
				}
				if tt.tls {
					r.TLS = &tls.ConnectionState{}
				}
				c := cookieNamed(newRecorder(s, r), sessionCookie)
				if c == nil {
					t.Fatalf("%s %s set no session cookie", rq.method, rq.path)
				}
				return c
			}
			login := send(req{method: "POST", path: "/login", form: url.Values{"token": {testToken}}})
			if login.Secure != tt.want {
				t.Errorf("login cookie Secure = %v, want %v", login.Secure, tt.want)
			}
			if logout := send(req{method: "POST", path: "/logout", form: url.Values{}}); logout.Secure != tt.want {
				t.Errorf("logout's clearing cookie Secure = %v, want %v", logout.Secure, tt.want)
			}
		})
	}
}

func TestLoginWithoutToken(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, "")
	w := serve(t, s, req{path: "/login"})
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	mustContain(t, w.Body.String(), "No API token is configured", "LABELGATE_API_TOKEN")
	w = serve(t, s, req{method: "POST", path: "/login", form: url.Values{"token": {"x"}}})
	if w.Code != http.StatusSeeOther || len(w.Result().Cookies()) != 0 {
		t.Errorf("POST /login without a token: status %d cookies %v, want 303 and none", w.Code, w.Result().Cookies())
	}
}

func TestLoginRedirectStaysLocal(t *testing.T) {
	t.Parallel()
	for _, next := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", ""} {
		if got := safeNext(next); got != "/" {
			t.Errorf("safeNext(%q) = %q, want /", next, got)
		}
	}
	for _, next := range []string{"/hostnames", "/events?hostname=a.example.com"} {
		if got := safeNext(next); got != next {
			t.Errorf("safeNext(%q) = %q, want it kept", next, got)
		}
	}
}

func TestSessionExpires(t *testing.T) {
	t.Parallel()
	now := testNow
	clock := func() time.Time { return now }
	a := newAuth(testToken, false, clock, slog.New(slog.DiscardHandler))
	_, value := a.newSession()
	r := req{path: "/"}.build(t)
	r.AddCookie(&http.Cookie{Name: sessionCookie, Value: value})
	if _, ok := a.sessionFrom(r); !ok {
		t.Fatal("a fresh session is not valid")
	}
	now = testNow.Add(sessionLifetime)
	if _, ok := a.sessionFrom(r); ok {
		t.Error("a session is valid after its lifetime")
	}
	// Another token (a rotated one) invalidates every session.
	now = testNow
	if _, ok := newAuth("another-token", false, clock, slog.New(slog.DiscardHandler)).sessionFrom(r); ok {
		t.Error("a session survived a token change")
	}
}

// TestLogoutEndsSessionServerSide: after a logout, a copy of the cookie
// taken before it is refused everywhere; other sessions go on.
func TestLogoutEndsSessionServerSide(t *testing.T) {
	t.Parallel()
	s, b := newTestServer(t, testToken)
	c, csrf := login(t, s)
	other, _ := login(t, s)

	w := serve(t, s, req{method: "POST", path: "/logout", cookies: []*http.Cookie{c}, form: url.Values{"csrf": {csrf}}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("logout: status %d, want 303", w.Code)
	}
	copied := []*http.Cookie{c}
	tests := []struct {
		name string
		rq   req
		want int
	}{
		{"page", req{path: "/hostnames", cookies: copied}, http.StatusSeeOther},
		{"api read", req{path: "/api/v1/hostnames", cookies: copied}, http.StatusUnauthorized},
		{"api action", req{method: "POST", path: "/api/v1/resync", cookies: copied, header: map[string]string{csrfHeader: csrf}}, http.StatusUnauthorized},
		{"dashboard action", req{method: "POST", path: "/actions/resync", cookies: copied, form: url.Values{"csrf": {csrf}}}, http.StatusUnauthorized},
		{"another session", req{path: "/hostnames", cookies: []*http.Cookie{other}}, http.StatusOK},
	}
	for _, tt := range tests {
		if w := serve(t, s, tt.rq); w.Code != tt.want {
			t.Errorf("%s with the logged-out cookie: status %d, want %d", tt.name, w.Code, tt.want)
		}
	}
	if w := serve(t, s, req{path: "/hostnames", cookies: copied}); w.Header().Get("Location") != "/login?next=%2Fhostnames" {
		t.Errorf("a page with the logged-out cookie: Location %q, want the login form", w.Header().Get("Location"))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.resyncs != 0 {
		t.Errorf("a logged-out cookie ran %d resyncs", b.resyncs)
	}
}

// TestRestartEndsSessions: sessions live in main's memory, so a new server
// with the same token (main restarted) refuses the old cookies.
func TestRestartEndsSessions(t *testing.T) {
	t.Parallel()
	before, _ := newTestServer(t, testToken)
	c, _ := login(t, before)
	after, _ := newTestServer(t, testToken)
	if w := serve(t, after, req{path: "/api/v1/overview", cookies: []*http.Cookie{c}}); w.Code != http.StatusUnauthorized {
		t.Errorf("a session from before the restart: status %d, want 401", w.Code)
	}
}

// TestSessionsBounded: the server keeps at most maxSessions sessions; a
// login beyond ends the oldest one.
func TestSessionsBounded(t *testing.T) {
	t.Parallel()
	s, _, clock := newClockServer(t, Config{Token: testToken})
	first, _ := login(t, s)
	clock.advance(time.Second)
	second, _ := login(t, s)
	for range maxSessions - 1 {
		login(t, s)
	}
	if got := s.auth.sessions.len(); got != maxSessions {
		t.Errorf("%d sessions kept, want %d", got, maxSessions)
	}
	for _, tt := range []struct {
		name string
		c    *http.Cookie
		want int
	}{
		{"the oldest session", first, http.StatusUnauthorized},
		{"the second oldest", second, http.StatusOK},
	} {
		if w := serve(t, s, req{path: "/api/v1/overview", cookies: []*http.Cookie{tt.c}}); w.Code != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, w.Code, tt.want)
		}
	}
	// Expired sessions make room before a live one is ended.
	clock.advance(sessionLifetime)
	login(t, s)
	if got := s.auth.sessions.len(); got != 1 {
		t.Errorf("%d sessions kept after all others expired, want 1", got)
	}
}

// TestDashboardCSRF checks the dashboard's action forms: a session alone is
// not enough; the form's CSRF token and a same-origin request are needed.
func TestDashboardCSRF(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		csrf    string // "good" uses the session's token
		cookie  bool
		headers map[string]string
		status  int
	}{
		{name: "valid", csrf: "good", cookie: true, status: http.StatusSeeOther},
		{name: "valid, same origin", csrf: "good", cookie: true,
			headers: map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://example.com"}, status: http.StatusSeeOther},
		{name: "missing csrf", cookie: true, status: http.StatusForbidden},
		{name: "wrong csrf", csrf: "bm9wZQ", cookie: true, status: http.StatusForbidden},
		{name: "cross-site fetch", csrf: "good", cookie: true,
			headers: map[string]string{"Sec-Fetch-Site": "cross-site"}, status: http.StatusForbidden},
		{name: "foreign origin", csrf: "good", cookie: true,
			headers: map[string]string{"Origin": "https://evil.example"}, status: http.StatusForbidden},
		{name: "no session", csrf: "good", status: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, b := newTestServer(t, testToken)
			c, good := login(t, s)
			form := url.Values{"next": {"/agents"}}
			switch tt.csrf {
			case "good":
				form.Set("csrf", good)
			case "":
			default:
				form.Set("csrf", tt.csrf)
			}
			rq := req{method: "POST", path: "/actions/resync", form: form, header: tt.headers}
			if tt.cookie {
				rq.cookies = []*http.Cookie{c}
			}
			w := serve(t, s, rq)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body:\n%s", w.Code, tt.status, w.Body)
			}
			b.mu.Lock()
			resyncs := b.resyncs
			b.mu.Unlock()
			if ok := tt.status == http.StatusSeeOther; (resyncs == 1) != ok {
				t.Errorf("resyncs = %d after a request answered %d", resyncs, w.Code)
			}
			if w.Code == http.StatusSeeOther && w.Header().Get("Location") != "/agents" {
				t.Errorf("Location %q, want /agents", w.Header().Get("Location"))
			}
		})
	}
}

// An API action authenticated by the cookie is held to the same rules: its
// CSRF token in a header, from the same origin.
func TestAPICookieActionCrossOrigin(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, testToken)
	c, csrf := login(t, s)
	w := serve(t, s, req{method: "POST", path: "/api/v1/resync", cookies: []*http.Cookie{c},
		header: map[string]string{csrfHeader: csrf, "Sec-Fetch-Site": "cross-site"}})
	if w.Code != http.StatusForbidden {
		t.Errorf("cross-site cookie action: status %d, want 403", w.Code)
	}
}

func TestDashboardActionsReadOnly(t *testing.T) {
	t.Parallel()
	s, b := newTestServer(t, "")
	for _, path := range []string{"/actions/resync", "/actions/pending-deletes/old.example.com/cancel",
		"/actions/agents/agent-b/decommission", "/actions/agents/agent-b/enable"} {
		w := serve(t, s, req{method: "POST", path: path, form: url.Values{}})
		if w.Code != http.StatusForbidden {
			t.Errorf("POST %s read-only: status %d, want 403", path, w.Code)
		}
		mustContain(t, w.Body.String(), "no API token is configured", "LABELGATE_API_TOKEN")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.resyncs != 0 || len(b.cancelled) != 0 || len(b.decommissioned) != 0 || len(b.enabled) != 0 {
		t.Errorf("a read-only server ran actions: %d resyncs, %v cancelled, %v decommissioned, %v enabled",
			b.resyncs, b.cancelled, b.decommissioned, b.enabled)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, testToken)
	big := strings.Repeat("a", MaxBodyBytes+1)
	tests := []struct {
		name string
		rq   req
	}{
		{"api action", req{method: "POST", path: "/api/v1/resync", bearer: testToken, body: big}},
		{"login form", req{method: "POST", path: "/login", form: url.Values{"token": {big}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := serve(t, s, tt.rq)
			if w.Code != http.StatusRequestEntityTooLarge {
				t.Errorf("status %d, want 413", w.Code)
			}
		})
	}
	// Without a Content-Length the limit applies while reading.
	t.Run("chunked form", func(t *testing.T) {
		t.Parallel()
		r := req{method: "POST", path: "/login", form: url.Values{"token": {big}}}.build(t)
		r.ContentLength = -1
		w := newRecorder(s, r)
		if w.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", w.Code)
		}
	})
}
