package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// authRequest builds one attempt at the token from a client address.
type authRequest func(token, remote string) req

func loginAttempt(token, remote string) req {
	return req{method: http.MethodPost, path: "/login", form: url.Values{"token": {token}}, remote: remote}
}

func bearerAttempt(token, remote string) req {
	return req{path: "/api/v1/overview", bearer: token, remote: remote}
}

// accepted is the status of an attempt with the right token.
func accepted(rq req) int {
	if rq.path == "/login" {
		return http.StatusSeeOther
	}
	return http.StatusOK
}

// attemptStatus sends an attempt and returns its status; a 429 must carry
// Retry-After and must not log anyone in.
func attemptStatus(t *testing.T, s *server, rq req) (int, string) {
	t.Helper()
	w := serve(t, s, rq)
	if w.Code == http.StatusTooManyRequests {
		if cookieNamed(w, sessionCookie) != nil {
			t.Errorf("a throttled login set a session cookie")
		}
		if w.Header().Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
	}
	return w.Code, w.Header().Get("Retry-After")
}

// TestAuthThrottlePerAddress: after authBurst wrong tokens an address is
// refused, even with the right token (it is not checked), until it earned
// another attempt; other addresses are not held up. Login and bearer
// attempts spend the same budget.
func TestAuthThrottlePerAddress(t *testing.T) {
	t.Parallel()
	const attacker, other = "198.51.100.7:4242", "203.0.113.9:5151"
	tests := []struct {
		name         string
		wrong, right authRequest
	}{
		{"login", loginAttempt, loginAttempt},
		{"bearer", bearerAttempt, bearerAttempt},
		{"wrong logins, then a bearer", loginAttempt, bearerAttempt},
		{"wrong bearers, then a login", bearerAttempt, loginAttempt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _, clock := newClockServer(t, Config{Token: testToken})
			step := func(what string, rq req, want int, wantRetry string) {
				t.Helper()
				got, retry := attemptStatus(t, s, rq)
				if got != want || (wantRetry != "" && retry != wantRetry) {
					t.Fatalf("%s: status %d Retry-After %q, want %d %q", what, got, retry, want, wantRetry)
				}
			}
			for i := range authBurst {
				step(fmt.Sprintf("wrong token %d", i+1), tt.wrong("guess", attacker), http.StatusUnauthorized, "")
			}
			step("one wrong token too many", tt.wrong("guess", attacker), http.StatusTooManyRequests, "5")
			step("the right token, unchecked", tt.right(testToken, attacker), http.StatusTooManyRequests, "5")

			right := tt.right(testToken, other)
			step("another address, right token", right, accepted(right), "")
			step("another address, wrong token", tt.wrong("guess", other), http.StatusUnauthorized, "")

			// Refused attempts cost nothing: one period later the attacker
			// has exactly one attempt again.
			clock.advance(authEvery)
			step("wrong token after the wait", tt.wrong("guess", attacker), http.StatusUnauthorized, "")
			step("and again at once", tt.wrong("guess", attacker), http.StatusTooManyRequests, "5")
			clock.advance(authEvery)
			right = tt.right(testToken, attacker)
			step("the right token after the wait", right, accepted(right), "")
		})
	}
}

// TestAuthThrottleRightTokenCostsNothing: a client that knows the token is
// never held up by its own requests.
func TestAuthThrottleRightTokenCostsNothing(t *testing.T) {
	t.Parallel()
	s, _, _ := newClockServer(t, Config{Token: testToken})
	for i := range 10 * authBurst {
		if got, _ := attemptStatus(t, s, bearerAttempt(testToken, "")); got != http.StatusOK {
			t.Fatalf("request %d with the right token: status %d, want 200", i+1, got)
		}
	}
}

// TestAuthThrottleGlobal: an attacker who rotates addresses runs into the
// server's budget, which then holds up everyone until it refills.
func TestAuthThrottleGlobal(t *testing.T) {
	t.Parallel()
	s, _, clock := newClockServer(t, Config{Token: testToken})
	for i := range authGlobalBurst {
		remote := fmt.Sprintf("198.51.100.%d:4242", i+1)
		if got, _ := attemptStatus(t, s, loginAttempt("guess", remote)); got != http.StatusUnauthorized {
			t.Fatalf("wrong token from address %d: status %d, want 401", i+1, got)
		}
	}
	fresh := "203.0.113.50:1111"
	w := serve(t, s, loginAttempt(testToken, fresh))
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("right token over the server's budget: status %d Retry-After %q, want 429 1", w.Code, w.Header().Get("Retry-After"))
	}
	mustContain(t, w.Body.String(), "on this server", "was not checked", `id="token"`)
	w = serve(t, s, bearerAttempt(testToken, fresh))
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("bearer over the server's budget: status %d, want 429", w.Code)
	}
	if msg := errorMessage(t, w); !strings.Contains(msg, "on this server") {
		t.Errorf("error %q does not say the server's budget ran out", msg)
	}
	clock.advance(authGlobalEvery)
	if got, _ := attemptStatus(t, s, loginAttempt(testToken, fresh)); got != http.StatusSeeOther {
		t.Fatalf("right token after the server's budget refilled: status %d, want 303", got)
	}
}

// TestAuthThrottleIgnoresForwardedFor: a client cannot pick its own
// address with a header.
func TestAuthThrottleIgnoresForwardedFor(t *testing.T) {
	t.Parallel()
	s, _, _ := newClockServer(t, Config{Token: testToken})
	for i := range authBurst + 1 {
		rq := bearerAttempt("guess", "198.51.100.7:4242")
		rq.header = map[string]string{"X-Forwarded-For": fmt.Sprintf("10.0.0.%d", i), "X-Real-IP": fmt.Sprintf("10.0.1.%d", i)}
		got, _ := attemptStatus(t, s, rq)
		want := http.StatusUnauthorized
		if i == authBurst {
			want = http.StatusTooManyRequests
		}
		if got != want {
			t.Fatalf("attempt %d: status %d, want %d", i+1, got, want)
		}
	}
}

func TestClientOf(t *testing.T) {
	t.Parallel()
	tests := []struct{ remote, want string }{
		{"192.0.2.1:1234", "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2::99]:80", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.1]:80", "192.0.2.1"},
		{"[fe80::1%eth0]:80", "fe80::/64"},
		{"192.0.2.1", "192.0.2.1"},
		{"@", "@"}, // a unix socket peer
	}
	for _, tt := range tests {
		if got := clientOf(tt.remote); got != tt.want {
			t.Errorf("clientOf(%q) = %q, want %q", tt.remote, got, tt.want)
		}
	}
}

// TestAuthThrottleBounded: however many addresses fail, the throttle tracks
// at most maxAuthAddrs, forgetting the one that failed longest ago, and
// forgets an address once its budget refilled.
func TestAuthThrottleBounded(t *testing.T) {
	t.Parallel()
	clock := &testClock{t: testNow}
	th := newAuthThrottle(clock.now)
	addr := func(i int) string { return fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255) }
	for i := range maxAuthAddrs + 500 {
		for range authBurst {
			th.failed(addr(i))
		}
	}
	if got := th.tracked(); got != maxAuthAddrs {
		t.Fatalf("tracked %d addresses, want the cap %d", got, maxAuthAddrs)
	}
	tracks := func(client string) bool {
		th.mu.Lock()
		defer th.mu.Unlock()
		_, ok := th.addrs[client]
		return ok
	}
	if !tracks(addr(maxAuthAddrs + 499)) {
		t.Error("the latest address is not tracked")
	}
	if tracks(addr(499)) {
		t.Error("an address that failed before the last maxAuthAddrs is still tracked")
	}
	if !tracks(addr(500)) {
		t.Error("the oldest of the last maxAuthAddrs addresses is not tracked")
	}

	clock.advance(authIdle)
	th.failed("192.0.2.1")
	if got := th.tracked(); got != 1 {
		t.Errorf("tracked %d addresses after every budget refilled, want 1", got)
	}
}

// TestAuthFailuresLogAggregated: a flood of wrong tokens writes one line at
// once, then one summary per authLogWindow while it goes on; a quiet
// window ends it. Inside a synctest bubble time only moves when every
// goroutine waits, so the summary timer fires without real waiting.
func TestAuthFailuresLogAggregated(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var logs syncBuffer
		logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{ReplaceAttr: dropTime}))
		s := newServer(Config{Backend: newFakeBackend(), Token: testToken, Logger: logger}, time.Now)

		// 1,000 wrong tokens, both ways in: 500 from one address, then 500
		// from 50 others. The first address gets authBurst checked, the
		// others what is left of the server's budget.
		for i := range 1000 {
			remote := "198.51.100.200:4242"
			if i >= 500 {
				remote = "198.51.100." + strconv.Itoa(i%50+1) + ":4242"
			}
			rq := loginAttempt("guess", remote)
			if i%2 == 1 {
				rq = bearerAttempt("guess", remote)
			}
			serve(t, s, rq)
		}
		want := []map[string]any{{
			"level": "WARN", "msg": "authentication failed: wrong token", "component": "web",
			"via": "login", "remote": "198.51.100.200:4242",
		}}
		if diff := cmp.Diff(want, logs.records(t)); diff != "" {
			t.Fatalf("log lines of the flood so far (-want +got):\n%s", diff)
		}

		time.Sleep(authLogWindow)
		synctest.Wait()
		want = append(want, map[string]any{
			"level": "WARN", "msg": "failed authentication attempts go on", "component": "web",
			// The first line is not counted again.
			"wrong_tokens": float64(authGlobalBurst - 1), "refused_unchecked": float64(1000 - authGlobalBurst),
			"clients": float64(51), "busiest_client": "198.51.100.200", "busiest_attempts": float64(499),
			"window": float64(authLogWindow),
		})
		if diff := cmp.Diff(want, logs.records(t)); diff != "" {
			t.Fatalf("log lines after one window (-want +got):\n%s", diff)
		}

		// A quiet window ends the flood: nothing is written, and the next
		// failure is logged at once again.
		time.Sleep(2 * authLogWindow)
		synctest.Wait()
		serve(t, s, bearerAttempt("guess", "203.0.113.9:80"))
		want = append(want, map[string]any{
			"level": "WARN", "msg": "authentication failed: wrong token", "component": "web",
			"via": "bearer", "remote": "203.0.113.9:80",
		})
		if diff := cmp.Diff(want, logs.records(t)); diff != "" {
			t.Fatalf("log lines after the flood ended (-want +got):\n%s", diff)
		}
		// Let the last window end, so the bubble has no timer left.
		time.Sleep(2 * authLogWindow)
		synctest.Wait()
	})
}

// syncBuffer is a log destination safe for the summary timer's goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records decodes the JSON log lines written so far.
func (b *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(b.buf.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("decoding log line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}
