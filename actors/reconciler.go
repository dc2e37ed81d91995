package actors

import (
	"errors"
	"github.com/labelgate/labelgate/messages"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/plan"
)

// PlannerConfig is what every planner actor (tunnel, zone, access) shares.
type PlannerConfig struct {
	// Debounce coalesces desired-state changes into one reconcile.
	Debounce time.Duration
	// Interval is the period of a full reconcile with Cloudflare, which
	// repairs owned objects edited or deleted by hand (drift).
	Interval time.Duration
	// Policy is sync, upsert-only or create-only.
	Policy string
	// DryRun plans and logs every change but writes nothing.
	DryRun     bool
	Cloudflare *actor.PID
	Store      *actor.PID
	Logger     *slog.Logger
	Metrics    PlannerMetrics
}

// PlannerMetrics receives what planners observe; the web package implements
// it with Prometheus.
type PlannerMetrics interface {
	SyncSucceeded(planner string, at time.Time)
	ObserveConvergence(planner string, lag time.Duration)
	SetDesiredApplied(kind string, desired, applied int)
}

type noPlannerMetrics struct{}

func (noPlannerMetrics) SyncSucceeded(string, time.Time)          {}
func (noPlannerMetrics) ObserveConvergence(string, time.Duration) {}
func (noPlannerMetrics) SetDesiredApplied(string, int, int)       {}

// PlannerStatus is how a planner is doing.
type PlannerStatus struct {
	Planner     string // tunnel:<name>, zone:<name>, access
	LastSync    time.Time
	LastError   string
	LastErrorAt time.Time
	// Conflicts are the planner's current conflicts with objects
	// Labelgate does not own (and orphans, for zones).
	Conflicts []plan.Conflict
	// Kind, Desired and Applied count the planner's objects: how many the
	// desired state holds and how many Labelgate owns in Cloudflare.
	Kind             plan.Object
	Desired, Applied int
	// Reconciled is the version of the registry's desired state that
	// Cloudflare is known to match: the one the last successful reconcile
	// planned from, or a later one with the same content for this planner.
	// 0 until the first success. Tests wait on it instead of sleeping.
	Reconciled uint64
	// ReconciledSettled says whether that desired state was past the
	// settle point (so deletes were allowed).
	ReconciledSettled bool
	// Connectors is the tunnel's connector health as last read (tunnel
	// planners only; the zero value before the first read).
	Connectors TunnelConnectors
}

// TunnelConnectors is what a tunnel actor last read of its tunnel's
// connectors (cloudflared processes): Cloudflare's status and each
// connector with its connections. Value data: snapshot deep-copies it.
type TunnelConnectors struct {
	// Status is Cloudflare's: cfapi.TunnelHealthy, TunnelDegraded,
	// TunnelDown or TunnelInactive; "" before the first successful read.
	Status     string
	Connectors []cfapi.TunnelConnector
	// ReadAt is when the last successful read ended.
	ReadAt time.Time
	// LastError and LastErrorAt describe the last failed read; a
	// successful read clears them.
	LastError   string
	LastErrorAt time.Time
}

// Read reports whether the connectors were read at least once.
func (c TunnelConnectors) Read() bool { return !c.ReadAt.IsZero() }

// Active counts the connections that serve traffic.
func (c TunnelConnectors) Active() int { return cfapi.ActiveConnections(c.Connectors) }

func (c TunnelConnectors) clone() TunnelConnectors {
	c.Connectors = slices.Clone(c.Connectors)
	for i := range c.Connectors {
		c.Connectors[i].Connections = slices.Clone(c.Connectors[i].Connections)
	}
	return c
}

// After a failed reconcile the next attempt waits retryMin, doubling per
// consecutive failure up to retryMax (the cloudflare actor has already
// retried transient errors of idempotent calls by then; a failed create or
// batch is only retried this way, after a fresh read).
const (
	retryMin   = 5 * time.Second
	retryMax   = 5 * time.Minute
	retryDelay = 30 * time.Second // for the DNS actor's zone list
)

// reconciler is the debounce/retry/drift loop every planner actor runs:
// at most one reconcile in flight; changes during one mark it dirty.
type reconciler struct {
	timers
	cfg   PlannerConfig
	name  string
	busy  bool
	dirty bool
	seq   uint64
	// since is when the oldest unapplied change arrived (convergence lag).
	since  time.Time
	status PlannerStatus
	// toParent sends the status to the parent after every reconcile (zones
	// report to the DNS actor, which answers for all of them).
	toParent bool
	// outstanding are the Cloudflare requests not answered yet.
	outstanding map[uint64]bool
	// counts reports desired and owned object counts for the status.
	counts func() (desired, applied int)
	// failures counts consecutive failed reconciles (for the retry backoff).
	failures int
	// began is when the last reconcile started (leading-edge debounce).
	began time.Time
	// version and settled describe the desired state the planner holds;
	// planned is the version the reconcile in flight planned from.
	version, planned               uint64
	versionSettled, plannedSettled bool
}

// callWatchdog bounds the wait for a Cloudflare answer: longer than any
// legitimate wait (a 429 lockout is five minutes), short enough that a lost
// answer (its actor restarted mid-call) cannot wedge a planner for good.
const callWatchdog = 15 * time.Minute

// errCallLost answers a request whose reply never came.
var errCallLost = errors.New("no answer from the cloudflare actor in time; the call is treated as failed")

type reconcileNow struct{}

type driftTick struct{}

func newReconciler(cfg PlannerConfig, name string) reconciler {
	if cfg.Metrics == nil {
		cfg.Metrics = noPlannerMetrics{}
	}
	return reconciler{cfg: cfg, name: name, status: PlannerStatus{Planner: name}}
}

// request schedules a reconcile after d (keeping an earlier one). A
// change debounced by the planner's window runs at once when no reconcile
// started within that window (leading edge); later changes in the window
// are gathered, and those that arrive during a reconcile run after it.
func (r *reconciler) request(ctx actor.Context, d time.Duration) {
	if !r.dirty && r.since.IsZero() {
		r.since = time.Now()
	}
	if d == r.cfg.Debounce && !r.busy && time.Since(r.began) >= d {
		d = 0
	}
	r.dirty = true
	r.sooner(ctx, "reconcile", d, reconcileNow{})
}

// begin reports whether a reconcile may start now.
func (r *reconciler) begin() bool {
	if r.busy || !r.dirty {
		return false
	}
	r.busy, r.dirty, r.began = true, false, time.Now()
	r.planned, r.plannedSettled = r.version, r.versionSettled
	return true
}

// observe records the version of a desired state the planner received;
// changed says whether it differs from the one held for this planner. An
// unchanged state is reconciled already when the planner is idle and its
// last reconcile succeeded.
func (r *reconciler) observe(version uint64, settled, changed bool) {
	r.version, r.versionSettled = version, settled
	if !changed && !r.busy && !r.dirty && r.failures == 0 && r.status.Reconciled != 0 {
		r.status.Reconciled, r.status.ReconciledSettled = version, settled
	}
}

// end finishes a reconcile: a failed one (err != nil) is retried later, a
// change that arrived meanwhile is picked up at once.
func (r *reconciler) end(ctx actor.Context, err error) {
	r.busy = false
	now := time.Now()
	if r.toParent {
		defer func() { ctx.Send(ctx.Parent(), r.snapshot()) }()
	}
	if err != nil {
		r.status.LastError, r.status.LastErrorAt = err.Error(), now
		r.failures++
		r.request(ctx, backoffDelay(retryMin, retryMax, r.failures))
		return
	}
	r.failures = 0
	r.status.LastSync = now
	r.status.Reconciled, r.status.ReconciledSettled = r.planned, r.plannedSettled
	if !r.dirty {
		// A desired state observed during the run without a change for
		// this planner (observe left it clean) is what was just applied.
		r.status.Reconciled, r.status.ReconciledSettled = r.version, r.versionSettled
	}
	r.cfg.Metrics.SyncSucceeded(r.name, now)
	if !r.since.IsZero() && !r.dirty {
		r.cfg.Metrics.ObserveConvergence(r.name, now.Sub(r.since))
		r.since = time.Time{}
	}
	if r.dirty {
		r.request(ctx, r.cfg.Debounce)
	}
}

// ask sends an operation to the cloudflare actor; the reply is a cfResponse
// with the returned ID.
func (r *reconciler) ask(ctx actor.Context, prio int, account string, op cfOp) uint64 {
	r.seq++
	id := r.seq
	if r.outstanding == nil {
		r.outstanding = map[uint64]bool{}
	}
	r.outstanding[id] = true
	ctx.Request(r.cfg.Cloudflare, cfRequest{ID: id, Priority: prio, Account: account, Op: op})
	r.after(ctx, watchdogPurpose(id), callWatchdog, cfResponse{ID: id, Err: errCallLost})
	return id
}

// worthReconciling reports whether a new desired state can change anything
// in Cloudflare: before the settle point nothing may be deleted, so a
// planner with nothing desired yet has nothing to do. Skipping that round
// saves the reads of the empty state main starts with (the next state,
// with the sources' claims, follows within milliseconds).
func worthReconciling(settled bool, desired int) bool { return settled || desired > 0 }

// drift schedules the next periodic full reconcile (one schedule: a drift
// tick re-arms it, nothing else does).
func (r *reconciler) drift(ctx actor.Context) {
	r.after(ctx, "drift", r.cfg.Interval, driftTick{})
}

func watchdogPurpose(id uint64) string { return "watchdog/" + strconv.FormatUint(id, 10) }

func (r *reconciler) mode() plan.Policy { return plan.Policy{Mode: r.cfg.Policy} }

// common handles the messages every planner answers the same way; ready
// says whether a reconcile can run at all yet.
func (r *reconciler) common(ctx actor.Context, ready bool) bool {
	switch m := ctx.Message().(type) {
	case cfResponse:
		// The first answer for a request wins: the real one, or the
		// watchdog's. Anything else is a duplicate and is dropped here.
		if !r.outstanding[m.ID] {
			return true
		}
		delete(r.outstanding, m.ID)
		r.cancel(watchdogPurpose(m.ID))
		return false
	case driftTick:
		if ready {
			r.request(ctx, 0)
		}
		r.drift(ctx)
	case messages.ResyncNow:
		if ready {
			r.request(ctx, 0)
		}
	case messages.QueryPlannerStatus:
		ctx.Respond(r.snapshot())
	default:
		return false
	}
	return true
}

// snapshot is the status with fresh counts.
func (r *reconciler) snapshot() PlannerStatus {
	st := r.status
	if r.counts != nil {
		st.Desired, st.Applied = r.counts()
	}
	st.Conflicts = slices.Clone(st.Conflicts)
	st.Connectors = st.Connectors.clone()
	return st
}
