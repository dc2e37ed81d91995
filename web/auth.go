package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The auth model (docs/operations.md, "Authentication"):
//
//	                     | no token configured      | token configured
//	---------------------+--------------------------+-------------------------------------------
//	/healthz /readyz     | open                     | open
//	/metrics             | open                     | open
//	API reads            | open                     | bearer token, or the dashboard session cookie
//	API actions (POST)   | 403, "set a token"       | bearer token, or cookie + X-CSRF-Token header
//	dashboard pages      | open, actions disabled   | session cookie (else → /login)
//	dashboard actions    | 403, "set a token"       | session cookie + csrf form field + same origin
//
// A session cookie is not the token: it is an expiry and a random nonce
// signed with a key derived from the token, so changing the token ends
// every session. The CSRF token of a session is derived from its nonce.

const (
	sessionCookie   = "labelgate_session"
	sessionLifetime = 12 * time.Hour
	csrfField       = "csrf"
	csrfHeader      = "X-CSRF-Token"
)

// errNoToken is the reason actions are refused without a configured token.
var errNoToken = errors.New("actions are disabled because no API token is configured: " +
	"set LABELGATE_API_TOKEN (or LABELGATE_API_TOKEN_FILE, or api.token in the configuration file) " +
	"and restart labelgate to enable them")

type auth struct {
	tokenSum [sha256.Size]byte // SHA-256 of the token; compared in constant time
	enabled  bool              // a token is configured
	key      []byte            // signs session cookies
	now      func() time.Time
}

func newAuth(token string, now func() time.Time) *auth {
	a := &auth{now: now}
	if token == "" {
		return a
	}
	a.enabled = true
	a.tokenSum = sha256.Sum256([]byte(token))
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte("labelgate dashboard session v1"))
	a.key = mac.Sum(nil)
	return a
}

// tokenMatches compares a presented token with the configured one. Hashing
// both first makes the comparison independent of the tokens' lengths.
func (a *auth) tokenMatches(presented string) bool {
	if !a.enabled {
		return false
	}
	sum := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) == 1
}

// credential is what a request presented.
type credential int

const (
	credNone        credential = iota
	credBearer                 // a valid bearer token
	credCookie                 // a valid session cookie
	credWrongBearer            // an Authorization header that is not the token
)

// identify checks the request's credentials. A presented but wrong bearer
// token wins over a valid cookie: a client that sends a token means it.
func (a *auth) identify(r *http.Request) (credential, session) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") && a.tokenMatches(strings.TrimSpace(tok)) {
			return credBearer, session{}
		}
		return credWrongBearer, session{}
	}
	if sess, ok := a.sessionFrom(r); ok {
		return credCookie, sess
	}
	return credNone, session{}
}

// session is a valid dashboard login.
type session struct {
	nonce   string
	expires time.Time
}

// newSession returns a fresh session and its cookie value.
func (a *auth) newSession() (session, string) {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	s := session{
		nonce:   base64.RawURLEncoding.EncodeToString(b[:]),
		expires: a.now().Add(sessionLifetime).Truncate(time.Second),
	}
	payload := "v1." + strconv.FormatInt(s.expires.Unix(), 10) + "." + s.nonce
	return s, payload + "." + a.sign("session:"+payload)
}

// sessionFrom returns the request's session if its cookie is valid.
func (a *auth) sessionFrom(r *http.Request) (session, bool) {
	if !a.enabled {
		return session{}, false
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	i := strings.LastIndexByte(c.Value, '.')
	if i < 0 {
		return session{}, false
	}
	payload, mac := c.Value[:i], c.Value[i+1:]
	if !hmac.Equal([]byte(mac), []byte(a.sign("session:"+payload))) {
		return session{}, false
	}
	parts := strings.Split(payload, ".")
	if len(parts) != 3 || parts[0] != "v1" {
		return session{}, false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return session{}, false
	}
	s := session{nonce: parts[2], expires: time.Unix(exp, 0)}
	if !a.now().Before(s.expires) {
		return session{}, false
	}
	return s, true
}

// csrfToken is the session's anti-CSRF token for forms and the
// X-CSRF-Token header.
func (a *auth) csrfToken(s session) string {
	if s.nonce == "" {
		return ""
	}
	return a.sign("csrf:" + s.nonce)
}

func (a *auth) csrfValid(s session, presented string) bool {
	want := a.csrfToken(s)
	return want != "" && hmac.Equal([]byte(presented), []byte(want))
}

func (a *auth) sign(msg string) string {
	mac := hmac.New(sha256.New, a.key)
	mac.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// setSessionCookie sends the login cookie: HttpOnly, SameSite=Strict and
// Secure when the request came over TLS.
func setSessionCookie(w http.ResponseWriter, r *http.Request, value string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    value,
		Path:     "/",
		Expires:  expires,
		MaxAge:   int(sessionLifetime / time.Second),
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
}

func clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
}

// challenge sets the WWW-Authenticate header of a 401.
func challenge(w http.ResponseWriter, cred credential) {
	v := `Bearer realm="labelgate"`
	if cred == credWrongBearer {
		v += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", v)
}
