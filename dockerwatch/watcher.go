package dockerwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/labelgate/labelgate/messages"
)

// Watcher follows one Docker engine and reports its labelled containers.
type Watcher struct {
	client Client
	cfg    Config // with defaults
	raw    Config // as given, for Validate
	logger *slog.Logger
	rand   func() float64 // jitter source; tests replace it

	running atomic.Bool
	// version is the last emitted version. Only the one running Run
	// touches it; it lives here so a second Run on the same Watcher keeps
	// counting up.
	version uint64
}

// New returns a watcher over c. Zero Config fields take their defaults;
// Run rejects a Config that fails Validate. A nil logger discards.
func New(c Client, cfg Config, logger *slog.Logger) *Watcher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	full := cfg.withDefaults()
	return &Watcher{
		client: c,
		cfg:    full,
		raw:    cfg,
		logger: logger.With("docker", full.Endpoint),
		rand:   rand.Float64,
	}
}

// Run watches until ctx is done, then returns ctx's error after every
// goroutine it caused has ended. It never gives up on Docker errors: it
// reports them through status and retries with backoff. It returns early
// only for an invalid Config or a nil emit.
//
// emit receives the full labelled set (sorted by name, Version strictly
// increasing) after the first successful list and after every later list
// whose result differs from the last emitted set. status (may be nil)
// receives every connection change. Both are called from Run's goroutine,
// one at a time, and must not block for long: events queue up meanwhile.
// The emitted set and its maps belong to the receiver and are never
// touched again by the watcher; the receiver must not mutate them either
// (the watcher compares the next list against them).
func (w *Watcher) Run(ctx context.Context, emit func(messages.ContainerSet), status func(Status)) error {
	if emit == nil {
		return errors.New("dockerwatch: Run needs an emit function")
	}
	if err := w.raw.Validate(); err != nil {
		return err
	}
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("dockerwatch: Run is already running on this watcher")
	}
	defer w.running.Store(false)
	if status == nil {
		status = func(Status) {}
	}
	r := &run{
		Watcher: w,
		emit:    emit,
		status:  status,
		obs:     newObserver(w.client, w.cfg, w.logger),
		backoff: backoff{cfg: w.cfg.Backoff, rand: w.rand},
		st:      Status{Since: time.Now()},
	}
	return r.loop(ctx)
}

// run is the state of one Run call, owned by its goroutine.
type run struct {
	*Watcher
	emit    func(messages.ContainerSet)
	status  func(Status)
	obs     *observer
	backoff backoff
	st      Status

	emitted   bool                 // at least one set emitted by this run
	last      []messages.Container // the last emitted set
	connected bool                 // at least one session reached connected
	lastEvent int64                // TimeNano of the newest event seen, for Since
}

func (r *run) loop(ctx context.Context) error {
	for {
		connectedAt, err := r.session(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		now := time.Now()
		// A connection that outlived the longest wait was not flapping:
		// its loss starts a fresh backoff sequence.
		if !connectedAt.IsZero() && now.Sub(connectedAt) >= r.cfg.Backoff.Max {
			r.backoff.reset()
		}
		wait := r.backoff.next()
		r.failed(err, now, wait)

		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// session connects, lists and follows events until something fails. It
// returns when it connected (zero if it never did) and why it ended. All
// stream goroutines have ended when it returns.
func (r *run) session(ctx context.Context) (connectedAt time.Time, err error) {
	ctx, cancel := context.WithCancel(ctx)
	var streams []client.EventsResult
	defer func() {
		cancel()
		for _, s := range streams {
			for range s.Err { // closed once the stream's goroutine ends
			}
		}
	}()

	pctx, pcancel := context.WithTimeout(ctx, callTimeout)
	ping, err := r.client.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true})
	pcancel()
	if err != nil {
		return time.Time{}, fmt.Errorf("pinging the Docker engine: %w", err)
	}

	// Subscribe before listing: whatever changes after the list started
	// arrives as an event and triggers another list.
	since := r.since()
	cev := r.client.Events(ctx, r.obs.containerEventOptions(since))
	streams = append(streams, cev)
	nev := r.client.Events(ctx, r.obs.networkEventOptions(since))
	streams = append(streams, nev)
	// Service events only when Swarm may be on; a nil stream never fires.
	var sev client.EventsResult
	if r.cfg.Swarm != SwarmOff {
		sev = r.client.Events(ctx, serviceEventOptions(since))
		streams = append(streams, sev)
	}

	if err := r.observe(ctx, true); err != nil {
		return time.Time{}, err
	}
	connectedAt = time.Now()
	r.becameConnected(connectedAt, ping.APIVersion)

	poll := time.NewTicker(r.cfg.PollInterval)
	defer poll.Stop()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	var pendingSince time.Time // first event of the pending burst; zero if none

	// trigger schedules a re-list Debounce after the latest event, but no
	// later than maxDebounceFactor×Debounce after the first event of the
	// burst, so a continuous stream still re-lists.
	trigger := func() {
		now := time.Now()
		if pendingSince.IsZero() {
			pendingSince = now
		}
		wait := r.cfg.Debounce
		if rest := pendingSince.Add(maxDebounceFactor * r.cfg.Debounce).Sub(now); rest < wait {
			wait = max(rest, 0)
		}
		debounce.Reset(wait)
	}

	for {
		select {
		case <-ctx.Done():
			return connectedAt, ctx.Err()

		case m := <-cev.Messages:
			r.noteEvent(m)
			r.obs.markStale(m.Actor.ID)
			trigger()

		case m := <-nev.Messages:
			r.noteEvent(m)
			if id := m.Actor.Attributes["container"]; r.obs.known(id) {
				trigger()
			}

		case m := <-sev.Messages:
			r.noteEvent(m)
			r.obs.serviceEvent()
			trigger()

		case err := <-cev.Err:
			return connectedAt, streamEnded(err)
		case err := <-nev.Err:
			return connectedAt, streamEnded(err)
		case err := <-sev.Err:
			return connectedAt, streamEnded(err)

		case <-debounce.C:
			pendingSince = time.Time{}
			if err := r.observe(ctx, false); err != nil {
				return connectedAt, err
			}

		case <-poll.C:
			// A full observation covers any pending burst too.
			debounce.Stop()
			pendingSince = time.Time{}
			if err := r.observe(ctx, true); err != nil {
				return connectedAt, err
			}
		}
	}
}

// observe lists and emits the set if it changed (always the first time).
func (r *run) observe(ctx context.Context, full bool) error {
	observedAt := time.Now()
	set, err := r.obs.observe(ctx, full)
	if err != nil {
		return err
	}
	if d := r.obs.swarm; r.obs.decided && (d.on != r.st.Swarm || d.why != r.st.SwarmWhy) {
		r.st.Swarm, r.st.SwarmWhy = d.on, d.why
		if r.st.Connected { // else becameConnected reports it
			r.status(r.st)
		}
	}
	if r.emitted && sameContainers(r.last, set) {
		return nil
	}
	r.version = nextVersion(r.version, time.Now())
	r.emitted = true
	r.last = set
	out := messages.ContainerSet{
		Source:     r.cfg.Source,
		Version:    r.version,
		Containers: set,
		ObservedAt: observedAt,
	}
	r.logger.Debug("container set changed", "version", out.Version, "containers", len(set))
	r.emit(out)
	return nil
}

func (r *run) becameConnected(now time.Time, apiVersion string) {
	if r.connected {
		r.st.Reconnects++
	}
	r.connected = true
	r.st.Connected = true
	r.st.Since = now
	r.st.Failures = 0
	r.st.RetryAt = time.Time{}
	r.logger.Info("following the Docker engine", "api_version", apiVersion, "reconnects", r.st.Reconnects)
	r.status(r.st)
}

func (r *run) failed(err error, now time.Time, wait time.Duration) {
	wasConnected := r.st.Connected
	r.st.Connected = false
	if wasConnected {
		r.st.Since = now
	}
	r.st.LastError = err
	r.st.LastErrorAt = now
	r.st.Failures++
	r.st.RetryAt = now.Add(wait)
	if wasConnected {
		r.logger.Warn("lost the Docker engine; keeping the last container set", "err", err, "retry_in", wait)
	} else {
		r.logger.Warn("cannot reach the Docker engine", "err", err, "failures", r.st.Failures, "retry_in", wait)
	}
	r.status(r.st)
}

func (r *run) noteEvent(m events.Message) {
	t := m.TimeNano
	if t == 0 {
		t = m.Time * int64(time.Second)
	}
	r.lastEvent = max(r.lastEvent, t)
	r.logger.Debug("docker event", "type", m.Type, "action", m.Action, "id", shortID(m.Actor.ID))
}

// since is the Since of the next subscription: the newest event seen, so a
// reconnect also replays what happened while the stream was down (where
// the engine still has it). Correctness does not depend on it: every
// session starts with a full list, and replayed duplicates only cause one
// extra list.
func (r *run) since() string {
	if r.lastEvent <= 0 {
		return ""
	}
	return fmt.Sprintf("%d.%09d", r.lastEvent/int64(time.Second), r.lastEvent%int64(time.Second))
}

func streamEnded(err error) error {
	if err == nil {
		return errors.New("following Docker events: the stream ended")
	}
	return fmt.Errorf("following Docker events: %w", err)
}

// nextVersion is the version after prev: wall-clock nanoseconds where that
// is larger, else prev+1. Seeding from the clock keeps versions increasing
// across a restart of the watcher (a new Watcher, a restarted process), so
// receivers that drop sets not newer than the last do not drop the fresh
// ones.
func nextVersion(prev uint64, now time.Time) uint64 {
	if ns := now.UnixNano(); ns > 0 && uint64(ns) > prev {
		return uint64(ns)
	}
	return prev + 1
}
