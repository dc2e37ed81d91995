package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
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
// Every presentation of the token (the login form, a bearer header) goes
// through attempt, which throttles failures per client and server-wide
// (authThrottle): over budget the token is not even checked (429).
//
// A session cookie is not the token: it is an expiry and a random nonce
// signed with a key derived from the token. It is valid only while the
// server lists its session (sessionStore), so a logout ends it for every
// copy of the cookie and a restart of main ends every session; the
// signature rejects a forged cookie before any lookup. The CSRF token of a
// session is derived from its nonce. The cookie is Secure when the request
// came over TLS or the operator said main is behind a TLS-terminating proxy
// (api.behind_tls).

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
	// behindTLS: clients reach main over HTTPS through a proxy, so the
	// session cookie is Secure even though main sees plain HTTP.
	behindTLS bool
	now       func() time.Time
	sessions  *sessionStore
	throttle  *authThrottle
	log       *authLog
}

func newAuth(token string, behindTLS bool, now func() time.Time, logger *slog.Logger) *auth {
	a := &auth{
		behindTLS: behindTLS,
		now:       now,
		sessions:  newSessionStore(),
		throttle:  newAuthThrottle(now),
		log:       newAuthLog(logger),
	}
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

// attempt checks a token a client presented (via "login" or "bearer") under
// the failure throttle: ok when it is the token; a refusal, with the token
// unchecked, when the client or the server is over its budget of failures.
// A wrong token spends budget; failures and refusals are logged, aggregated.
func (a *auth) attempt(r *http.Request, presented, via string) (ok bool, refused *throttled) {
	client := clientOf(r.RemoteAddr)
	if limit, admitted := a.throttle.admit(client); !admitted {
		a.log.note(authFailure{via: via, remote: r.RemoteAddr, refused: true, limit: limit})
		return false, &limit
	}
	if a.tokenMatches(presented) {
		return true, nil
	}
	a.throttle.failed(client)
	a.log.note(authFailure{via: via, remote: r.RemoteAddr})
	return false, nil
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
	credThrottled              // an Authorization header not checked: too many failures
)

// identity is what identify found.
type identity struct {
	cred    credential
	sess    session    // of credCookie
	refused *throttled // of credThrottled
}

// identify checks the request's credentials. A presented but wrong bearer
// token wins over a valid cookie: a client that sends a token means it. Any
// Authorization header is an attempt at the token and is throttled as one.
func (a *auth) identify(r *http.Request) identity {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			tok = "" // another scheme: never the token, but still a guess
		}
		match, refused := a.attempt(r, strings.TrimSpace(tok), "bearer")
		switch {
		case refused != nil:
			return identity{cred: credThrottled, refused: refused}
		case match:
			return identity{cred: credBearer}
		}
		return identity{cred: credWrongBearer}
	}
	if sess, ok := a.sessionFrom(r); ok {
		return identity{cred: credCookie, sess: sess}
	}
	return identity{cred: credNone}
}

// session is a valid dashboard login.
type session struct {
	nonce   string
	expires time.Time
}

// newSession starts a session (listed by the server) and returns it with its
// cookie value.
func (a *auth) newSession() (session, string) {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	now := a.now()
	s := session{
		nonce:   base64.RawURLEncoding.EncodeToString(b[:]),
		expires: now.Add(sessionLifetime).Truncate(time.Second),
	}
	a.sessions.add(s, now)
	payload := "v1." + strconv.FormatInt(s.expires.Unix(), 10) + "." + s.nonce
	return s, payload + "." + a.sign("session:"+payload)
}

// endSession logs a session out: its cookie is refused from now on,
// wherever a copy of it is.
func (a *auth) endSession(s session) { a.sessions.end(s) }

// sessionFrom returns the request's session if its cookie is valid: signed
// with this token's key, not expired, and its session still listed.
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
	if !a.now().Before(s.expires) || !a.sessions.valid(s, a.now()) {
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

// secureCookie reports whether the session cookie must only travel over
// HTTPS: the request came over TLS, or main is behind a TLS-terminating
// proxy (api.behind_tls), where it sees plain HTTP from the proxy.
func (a *auth) secureCookie(r *http.Request) bool {
	return r.TLS != nil || a.behindTLS
}

// setSessionCookie sends the login cookie: HttpOnly, SameSite=Strict and
// Secure as secureCookie says.
func (a *auth) setSessionCookie(w http.ResponseWriter, r *http.Request, value string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    value,
		Path:     "/",
		Expires:  expires,
		MaxAge:   int(sessionLifetime / time.Second),
		HttpOnly: true,
		Secure:   a.secureCookie(r),
		SameSite: http.SameSiteStrictMode,
	})
}

func (a *auth) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   a.secureCookie(r),
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
