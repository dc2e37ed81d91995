package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/time/rate"

	"github.com/labelgate/labelgate/cfapi"
)

// CloudflareMetrics receives what the cloudflare actor observes; the web
// package implements it with Prometheus. All methods must be cheap and safe
// to call from the actor's goroutine.
type CloudflareMetrics interface {
	Call(credential, endpoint, status string, took time.Duration)
	RateLimited(credential string, pause time.Duration)
	LimiterWait(credential string, wait time.Duration)
	QueueDepth(credential string, depth int)
}

type noMetrics struct{}

func (noMetrics) Call(string, string, string, time.Duration) {}
func (noMetrics) RateLimited(string, time.Duration)          {}
func (noMetrics) LimiterWait(string, time.Duration)          {}
func (noMetrics) QueueDepth(string, int)                     {}

// CloudflareConfig configures one cloudflare actor: one per API credential,
// because Cloudflare's rate limit is per token.
type CloudflareConfig struct {
	Credential string
	// NewAPI returns the API client for an account ("" for calls that need
	// none); it is called once per account.
	NewAPI func(accountID string) (cfapi.API, error)
	// Rate and Burst size the token bucket shared by every caller.
	Rate  float64
	Burst int
	// MaxInflight bounds concurrent calls.
	MaxInflight int
	// CallTimeout bounds each call (a paged list counts as one call).
	CallTimeout time.Duration
	// MaxAttempts bounds retries of idempotent calls on transient errors.
	MaxAttempts int
	// RetryBase and RetryMax shape the retry backoff.
	RetryBase, RetryMax time.Duration
	// DefaultPause is the pause after a 429 without Retry-After: the
	// lockout Cloudflare documents is five minutes.
	DefaultPause time.Duration
	Logger       *slog.Logger
	Metrics      CloudflareMetrics
}

func (c *CloudflareConfig) defaults() {
	if c.Rate <= 0 {
		c.Rate = 3
	}
	if c.Burst <= 0 {
		c.Burst = 10
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = 4
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 60 * time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 6
	}
	if c.RetryBase <= 0 {
		c.RetryBase = time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = time.Minute
	}
	if c.DefaultPause <= 0 {
		c.DefaultPause = 5 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Metrics == nil {
		c.Metrics = noMetrics{}
	}
}

// cloudflareActor is the only caller of cfapi (DESIGN §6): it owns the API
// budget, queues requests by priority, pauses everything on a 429 for the
// Retry-After, retries idempotent calls on transient errors with backoff,
// and never retries a create blindly. Calls run in goroutines; their results
// come back as messages, so Receive never blocks.
type cloudflareActor struct {
	timers
	cfg      CloudflareConfig
	gen      *int // identifies this incarnation; a restart makes a new one
	limiter  *rate.Limiter
	queues   [numPriorities][]*cfPending
	inflight int
	paused   time.Time // no call starts before this
	apis     map[string]cfapi.API
	ctx      context.Context
	cancel   context.CancelFunc
}

type cfPending struct {
	req     cfRequest
	replyTo *actor.PID
	attempt int
	queued  time.Time
}

type cfDone struct {
	gen    *int
	p      *cfPending
	result any
	err    error
	took   time.Duration
}

type cfWake struct{}

// NewCloudflareProps builds the props of a cloudflare actor.
func NewCloudflareProps(cfg CloudflareConfig) *actor.Props {
	cfg.defaults()
	return actor.PropsFromProducer(func() actor.Actor {
		return &cloudflareActor{cfg: cfg, apis: map[string]cfapi.API{},
			limiter: rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Burst)}
	}, withMiddleware(cfg.Logger))
}

func (a *cloudflareActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.ctx, a.cancel = context.WithCancel(context.Background())
		a.gen = new(int)
	case *actor.Stopping, *actor.Restarting:
		// Calls in flight are cancelled; queued callers are told now rather
		// than left waiting (they retry on their own schedule).
		a.cancel()
		for _, q := range a.queues {
			for _, p := range q {
				a.reply(ctx, p, cfResponse{ID: p.req.ID, Err: errCloudflareStopped})
			}
		}
	case cfRequest:
		if ctx.Sender() == nil {
			a.cfg.Logger.Error("a Cloudflare request without a sender was dropped", "call", m.String())
			return
		}
		a.enqueue(&cfPending{req: m, replyTo: ctx.Sender(), queued: time.Now()}, false)
		a.pump(ctx)
	case cfDone:
		if m.gen != a.gen {
			// A call started by a previous incarnation: answer its caller,
			// but it is not one of this incarnation's in-flight calls.
			res := cfResponse{ID: m.p.req.ID, Result: m.result, Err: m.err}
			a.reply(ctx, m.p, res)
			return
		}
		a.inflight--
		a.done(ctx, m)
		a.pump(ctx)
	case cfRetry:
		a.enqueue(m.p, false)
		a.pump(ctx)
	case cfWake:
		a.pump(ctx)
	}
}

func (a *cloudflareActor) enqueue(p *cfPending, front bool) {
	prio := min(max(p.req.Priority, 0), numPriorities-1)
	if front {
		a.queues[prio] = append([]*cfPending{p}, a.queues[prio]...)
	} else {
		a.queues[prio] = append(a.queues[prio], p)
	}
	a.cfg.Metrics.QueueDepth(a.cfg.Credential, a.depth())
}

func (a *cloudflareActor) depth() int {
	n := 0
	for _, q := range a.queues {
		n += len(q)
	}
	return n
}

// agingStep is how long a request waits to gain one priority level: a
// steady stream of tunnel or Access calls can delay DNS work, never starve
// it.
const agingStep = 2 * time.Second

// pop takes the next request: the head of the queue with the best priority
// after aging (ties go to the higher base priority).
func (a *cloudflareActor) pop() *cfPending {
	now := time.Now()
	best, bestScore := -1, 0
	for i, q := range a.queues {
		if len(q) == 0 {
			continue
		}
		score := i - int(now.Sub(q[0].queued)/agingStep)
		if best < 0 || score < bestScore {
			best, bestScore = i, score
		}
	}
	if best < 0 {
		return nil
	}
	p := a.queues[best][0]
	a.queues[best] = a.queues[best][1:]
	return p
}

// pump starts as many queued calls as the pause, the bucket and the
// in-flight cap allow, and schedules a wake-up for the rest.
func (a *cloudflareActor) pump(ctx actor.Context) {
	now := time.Now()
	if now.Before(a.paused) {
		a.wake(ctx, a.paused.Sub(now))
		return
	}
	for a.inflight < a.cfg.MaxInflight {
		p := a.pop()
		if p == nil {
			break
		}
		r := a.limiter.ReserveN(now, 1)
		if d := r.DelayFrom(now); d > 0 {
			r.CancelAt(now)
			a.enqueue(p, true)
			a.wake(ctx, d)
			break
		}
		a.cfg.Metrics.LimiterWait(a.cfg.Credential, now.Sub(p.queued))
		a.start(ctx, p)
	}
	a.cfg.Metrics.QueueDepth(a.cfg.Credential, a.depth())
}

func (a *cloudflareActor) wake(ctx actor.Context, d time.Duration) {
	a.sooner(ctx, "wake", d, cfWake{})
}

func (a *cloudflareActor) start(ctx actor.Context, p *cfPending) {
	api, err := a.api(p.req.Account)
	if err != nil {
		a.reply(ctx, p, cfResponse{ID: p.req.ID, Err: err})
		return
	}
	a.inflight++
	self, root := ctx.Self(), ctx.ActorSystem().Root
	callCtx, timeout, gen := a.ctx, a.cfg.CallTimeout, a.gen
	go func() {
		c, cancel := context.WithTimeout(callCtx, timeout)
		defer cancel()
		began := time.Now()
		res, err := p.req.Op.run(c, api)
		root.Send(self, cfDone{gen: gen, p: p, result: res, err: err, took: time.Since(began)})
	}()
}

func (a *cloudflareActor) api(account string) (cfapi.API, error) {
	if api, ok := a.apis[account]; ok {
		return api, nil
	}
	api, err := a.cfg.NewAPI(account)
	if err != nil {
		return nil, err
	}
	a.apis[account] = api
	return api, nil
}

func (a *cloudflareActor) done(ctx actor.Context, m cfDone) {
	p := m.p
	a.cfg.Metrics.Call(a.cfg.Credential, p.req.Op.endpoint(), callStatus(m.err), m.took)
	switch {
	case m.err == nil:
		a.reply(ctx, p, cfResponse{ID: p.req.ID, Result: m.result})
	case errors.Is(m.err, cfapi.ErrRateLimited):
		// Cloudflare locks the whole token out: stop everything until the
		// lockout ends, then run this call again (a 429 did not run it).
		pause := cfapi.RetryAfter(m.err)
		if pause <= 0 {
			pause = a.cfg.DefaultPause
		}
		if until := time.Now().Add(pause); until.After(a.paused) {
			a.paused = until
		}
		a.cfg.Metrics.RateLimited(a.cfg.Credential, pause)
		a.cfg.Logger.Warn("Cloudflare rate limit hit; pausing every call", "credential", a.cfg.Credential, "pause", pause, "call", p.req.String())
		a.enqueue(p, true)
	case errors.Is(m.err, cfapi.ErrTransient) && p.req.Op.idempotent() && p.attempt+1 < a.cfg.MaxAttempts && a.ctx.Err() == nil:
		p.attempt++
		d := backoffDelay(a.cfg.RetryBase, a.cfg.RetryMax, p.attempt)
		a.cfg.Logger.Info("Cloudflare call failed; retrying", "call", p.req.String(), "attempt", p.attempt, "in", d, "err", m.err)
		a.after(ctx, fmt.Sprintf("retry/%p", p), d, cfRetry{p})
	default:
		a.reply(ctx, p, cfResponse{ID: p.req.ID, Err: m.err})
	}
}

// errCloudflareStopped answers the queued requests of a stopping or
// restarting cloudflare actor.
var errCloudflareStopped = errors.New("the cloudflare actor stopped before running this call; it will be retried")

func (a *cloudflareActor) reply(ctx actor.Context, p *cfPending, r cfResponse) {
	if p.replyTo != nil {
		ctx.Send(p.replyTo, r)
	}
}

type cfRetry struct{ p *cfPending }

// callStatus is the metric label of a call's outcome.
func callStatus(err error) string {
	if err == nil {
		return "ok"
	}
	var e *cfapi.Error
	if errors.As(err, &e) && e.StatusCode != 0 {
		return strconv.Itoa(e.StatusCode)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, cfapi.ErrTransient) {
		return "transport_error"
	}
	return "error"
}
