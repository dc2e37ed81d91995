package web

import (
	"container/list"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Budgets of failed authentication. Both the login form and a bearer token
// on the API guess the same secret, so they share these budgets.
//
// A client address may fail authBurst times, then once every authEvery
// (12 a minute): a person who mistypes the token a few times never notices,
// a script guessing it gets nowhere. The server as a whole may fail
// authGlobalBurst times, then once every authGlobalEvery, which bounds an
// attacker who rotates addresses (an IPv6 block, a botnet); that budget is
// the only way one address's failures can hold up another's login.
//
// maxAuthAddrs caps the addresses tracked. Only failures create entries, and
// each failure also spends the global budget, so at most about
// authGlobalBurst + authIdle/authGlobalEvery addresses (~55) are busy at any
// time; the rest are idle (their budget refilled) and carry no information.
// The cap holds even when that reasoning does not (a burst of concurrent
// failures): the address that failed longest ago is forgotten first.
const (
	authBurst       = 5
	authEvery       = 5 * time.Second
	authGlobalBurst = 30
	authGlobalEvery = time.Second
	maxAuthAddrs    = 1024
	// authIdle is how long an address takes to refill its whole budget.
	authIdle = authBurst * authEvery
	// authLogWindow is the period of the summary lines of a flood.
	authLogWindow = time.Minute
)

// authThrottle refuses authentication attempts from a client that failed
// too often. Only failures spend budget: a right token costs nothing, so a
// client that knows the token is only held up while its address, or the
// whole server, is over budget. Over budget, an attempt is refused without
// checking the token (429 with Retry-After): checking it would tell the
// client whether its guess was right, so it could go on guessing at full
// speed.
//
// A client is the host part of RemoteAddr, never X-Forwarded-For or the
// like, which any client can set. An IPv6 address counts as its /64, since
// one host usually holds a whole /64. Behind a reverse proxy every client
// has the proxy's address and shares one budget; the proxy should then
// limit per client itself.
//
// It is safe for concurrent use.
type authThrottle struct {
	now func() time.Time

	mu     sync.Mutex
	global *rate.Limiter
	addrs  map[string]*list.Element // values: *addrBudget
	lru    *list.List               // front: the latest failure
}

type addrBudget struct {
	key     string
	limiter *rate.Limiter
}

func newAuthThrottle(now func() time.Time) *authThrottle {
	return &authThrottle{
		now:    now,
		global: rate.NewLimiter(rate.Every(authGlobalEvery), authGlobalBurst),
		addrs:  map[string]*list.Element{},
		lru:    list.New(),
	}
}

// throttled is an attempt refused unchecked.
type throttled struct {
	wait time.Duration
	// global: the server's budget ran out, not only the client's.
	global bool
}

// retryAfter is the Retry-After value: whole seconds, at least 1.
func (t throttled) retryAfter() string {
	return strconv.Itoa(max(1, int(math.Ceil(t.wait.Seconds()))))
}

func (t throttled) who() string {
	if t.global {
		return "on this server"
	}
	return "from your address"
}

// message says what happened and what to do, as the API's error.
func (t throttled) message() string {
	return "too many failed authentication attempts " + t.who() + ", so the token was not checked: wait " +
		t.retryAfter() + " seconds (Retry-After), then try again"
}

// loginMessage is message for a person at the login form.
func (t throttled) loginMessage() string {
	return "Too many wrong tokens were tried " + t.who() + ", so this one was not checked. Wait " +
		t.retryAfter() + " seconds, then try again."
}

// admit reports whether the client may try the token now; if not, how long
// it has to wait. It spends nothing.
func (th *authThrottle) admit(client string) (throttled, bool) {
	th.mu.Lock()
	defer th.mu.Unlock()
	now := th.now()
	var addrWait time.Duration
	if e, ok := th.addrs[client]; ok {
		addrWait = waitFor(e.Value.(*addrBudget).limiter, now)
	}
	globalWait := waitFor(th.global, now)
	if addrWait == 0 && globalWait == 0 {
		return throttled{}, true
	}
	return throttled{wait: max(addrWait, globalWait), global: globalWait > addrWait}, false
}

// failed spends one attempt of the client's budget and one of the server's.
// Several attempts admitted at once may all fail; the budgets then go into
// debt, so the client waits longer, instead of the failures going uncounted.
func (th *authThrottle) failed(client string) {
	th.mu.Lock()
	defer th.mu.Unlock()
	now := th.now()
	th.global.ReserveN(now, 1)
	e, ok := th.addrs[client]
	if ok {
		th.lru.MoveToFront(e)
	} else {
		th.forgetIdle(now)
		if th.lru.Len() >= maxAuthAddrs {
			th.forget(th.lru.Back())
		}
		e = th.lru.PushFront(&addrBudget{key: client, limiter: rate.NewLimiter(rate.Every(authEvery), authBurst)})
		th.addrs[client] = e
	}
	e.Value.(*addrBudget).limiter.ReserveN(now, 1)
}

// forgetIdle drops addresses whose budget refilled, starting with the one
// that failed longest ago: an address that is not tracked has a full budget,
// so they carry no information.
func (th *authThrottle) forgetIdle(now time.Time) {
	for e := th.lru.Back(); e != nil; e = th.lru.Back() {
		if e.Value.(*addrBudget).limiter.TokensAt(now) < authBurst {
			return
		}
		th.forget(e)
	}
}

func (th *authThrottle) forget(e *list.Element) {
	delete(th.addrs, e.Value.(*addrBudget).key)
	th.lru.Remove(e)
}

// tracked is the number of addresses tracked (for tests).
func (th *authThrottle) tracked() int {
	th.mu.Lock()
	defer th.mu.Unlock()
	return len(th.addrs)
}

// waitFor is how long until lim has a whole token, 0 if it has one now.
func waitFor(lim *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - lim.TokensAt(now)
	if missing <= 0 {
		return 0
	}
	return time.Duration(missing / float64(lim.Limit()) * float64(time.Second))
}

// clientOf is the throttle's key of a request's client: the IPv4 address,
// or the /64 of an IPv6 address, of RemoteAddr.
func clientOf(r string) string {
	host, _, err := net.SplitHostPort(r)
	if err != nil {
		host = r
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.String()
		}
	}
	return ip.String()
}

// authLog writes failed and refused authentication attempts to the log
// without letting a flood write a line per attempt: the first attempt after
// a quiet spell is logged at once, with its address; the ones after it are
// counted and summed up in one line per authLogWindow for as long as they go
// on. The addresses counted are capped like the throttle's.
type authLog struct {
	logger *slog.Logger

	mu      sync.Mutex
	open    bool // a window is running; attempts are counted
	wrong   int  // wrong tokens in this window
	refused int  // attempts refused unchecked in this window
	clients map[string]int
	others  int // attempts from clients beyond maxAuthAddrs
}

func newAuthLog(logger *slog.Logger) *authLog {
	return &authLog{logger: logger}
}

// authFailure is one failed or refused attempt.
type authFailure struct {
	via    string // "login" or "bearer"
	remote string // RemoteAddr
	// refused: over budget, not checked (else: a wrong token).
	refused bool
	limit   throttled
}

// note records one failed or refused attempt.
func (l *authLog) note(f authFailure) {
	if l.count(f) {
		return
	}
	// The first attempt after a quiet spell: logged at once, outside the
	// lock.
	if f.refused {
		l.logger.Warn("authentication refused unchecked: too many failed attempts", "via", f.via, "remote", f.remote,
			"server_wide", f.limit.global, "retry_after", f.limit.retryAfter()+"s")
	} else {
		l.logger.Warn("authentication failed: wrong token", "via", f.via, "remote", f.remote)
	}
}

// count adds f to the running window and reports true, or opens a window
// and reports false when none is running.
func (l *authLog) count(f authFailure) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.open {
		l.open = true
		time.AfterFunc(authLogWindow, l.flush)
		return false
	}
	if f.refused {
		l.refused++
	} else {
		l.wrong++
	}
	client := clientOf(f.remote)
	if _, ok := l.clients[client]; ok || len(l.clients) < maxAuthAddrs {
		if l.clients == nil {
			l.clients = map[string]int{}
		}
		l.clients[client]++
	} else {
		l.others++
	}
	return true
}

// flush ends a window: it writes the summary of the attempts counted, and
// opens the next window if there were any.
func (l *authLog) flush() {
	if attrs := l.summary(); attrs != nil {
		l.logger.Warn("failed authentication attempts go on", attrs...)
	}
}

// summary takes the window's counts and starts the next window, or closes
// it when nothing was counted (nil).
func (l *authLog) summary() []any {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.wrong+l.refused == 0 {
		l.open = false
		return nil
	}
	top, topN := "", 0
	for c, n := range l.clients {
		if n > topN || (n == topN && c < top) {
			top, topN = c, n
		}
	}
	attrs := []any{"wrong_tokens", l.wrong, "refused_unchecked", l.refused, "clients", len(l.clients),
		"busiest_client", top, "busiest_attempts", topN, "window", authLogWindow}
	if l.others > 0 {
		attrs = append(attrs, "attempts_from_untracked_clients", l.others)
	}
	l.wrong, l.refused, l.clients, l.others = 0, 0, nil, 0
	time.AfterFunc(authLogWindow, l.flush)
	return attrs
}
