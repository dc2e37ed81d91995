package web

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzAuthHeaders feeds arbitrary Authorization headers and session cookies
// (what any client of the API port sends) to the authentication. Properties:
// nothing panics; only the exact token is a bearer; only a cookie the server
// issued (and did not end) is a session; a request with an Authorization
// header is never identified by its cookie. Each input gets a fresh auth (so
// the failure budget does not end the exploration); "{{issued}}" and
// "{{ended}}" in the cookie stand for a live and a logged-out session's
// cookie.
func FuzzAuthHeaders(f *testing.F) {
	const token = "fuzz-api-token-0123456789abcdef"
	now := func() time.Time { return time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC) }
	f.Add("Bearer "+token, "{{issued}}")
	f.Add("bearer  "+token+" ", "")
	f.Add("Basic "+token, "{{ended}}")
	f.Add("", "{{issued}}")
	f.Add("", "{{ended}}")
	f.Add("", "v1.9999999999.AAAAAAAAAAAAAAAAAAAAAA.AAAA")
	f.Add("", "x{{issued}}")
	f.Add("", "v1.1.x.y.z")
	f.Fuzz(func(t *testing.T, header, cookie string) {
		a := newAuth(token, false, now, slog.New(slog.DiscardHandler))
		sess, issued := a.newSession()
		ended, endedCookie := a.newSession()
		a.endSession(ended)
		cookie = strings.ReplaceAll(strings.ReplaceAll(cookie, "{{issued}}", issued), "{{ended}}", endedCookie)

		r := httptest.NewRequest(http.MethodGet, "/api/v1/overview", nil)
		r.RemoteAddr = "192.0.2.1:1234"
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		if cookie != "" {
			r.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
		}
		id := a.identify(r)
		switch id.cred {
		case credBearer:
			scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
			if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) != token {
				t.Fatalf("header %q was taken as the bearer token", r.Header.Get("Authorization"))
			}
		case credCookie:
			got, err := r.Cookie(sessionCookie)
			if err != nil || got.Value != issued || id.sess.nonce != sess.nonce {
				t.Fatalf("cookie %q was taken as a session (%+v)", cookie, id.sess)
			}
			if r.Header.Get("Authorization") != "" {
				t.Fatal("a request with an Authorization header was identified by its cookie")
			}
		}
	})
}
