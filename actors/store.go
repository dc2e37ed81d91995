package actors

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/time/rate"

	"github.com/labelgate/labelgate/store"
)

// The store actor is the only owner of the SQLite database. Its Receive
// only queues work; one worker goroutine runs the queue in order, so every
// write is applied before any later read, and a slow disk never blocks an
// actor. Replies go to the requester as messages.

// storeLoadRegistry asks for the registry's persisted state.
type storeLoadRegistry struct{}

type storeRegistryLoaded struct {
	Claims []store.Claim
	Hosts  []store.HostnameState
	Agents []store.Agent
	Err    error
}

// storeRegistryWrites persists registry decisions (fire and forget).
type storeRegistryWrites struct{ Writes []storeWrite }

// storeLoadOwned asks for the owned objects of one kind and scope.
type storeLoadOwned struct{ Kind, Scope string }

type storeOwnedLoaded struct {
	Kind, Scope string
	Objects     []store.OwnedObject
	Err         error
}

// storeApplyOwned records created, adopted and deleted objects atomically.
type storeApplyOwned struct {
	Puts    []store.OwnedObject
	Deletes []store.OwnedKey
}

// storeAppendEvents adds to the event log.
type storeAppendEvents struct{ Events []store.Event }

// StoreQueryEvents reads a page of the event log; the reply is
// StoreEventsPage.
type StoreQueryEvents struct{ Query store.EventQuery }

// StoreEventsPage answers StoreQueryEvents.
type StoreEventsPage struct {
	Events []store.Event
	Err    error
}

// StoreCheck asks whether the database is writable; the reply is
// StoreChecked.
type StoreCheck struct{}

// StoreChecked answers StoreCheck.
type StoreChecked struct{ Err error }

// storePutAgent records an agent's state.
type storePutAgent struct{ Agent store.Agent }

// storeLoadAgents asks for the agents directory's persisted state; the reply
// is storeAgentsLoaded.
type storeLoadAgents struct{}

type storeAgentsLoaded struct {
	Agents      []store.Agent
	Revocations []store.Revocation
	Err         error
}

// storePutRevocation records a decommissioned agent's revocation;
// storeDeleteRevocation lifts it.
type (
	storePutRevocation    struct{ Revocation store.Revocation }
	storeDeleteRevocation struct{ Name string }
)

type storeActor struct {
	timers
	db     *store.Store
	logger *slog.Logger
	work   chan func(context.Context)
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	// pending are registry writes waiting for the batch in progress
	// (writing) to finish.
	pending pendingWrites
	writing bool
	// budgets and held: the event budget of each agent source, and the
	// events over it not summed up yet.
	budgets map[string]*rate.Limiter
	held    map[string]int
}

// storeBatchWritten: the worker has written a registry batch.
type storeBatchWritten struct{}

// What an agent's claims make main record, from every actor (the registry's
// decisions, the planners' writes), is budgeted where it is recorded: an
// agent's events are kept eventBurst at once, then one per eventEvery; the
// rest are counted and recorded as one summary event when the budget allows.
const (
	eventBurst = 1000
	eventEvery = 100 * time.Millisecond
)

// budgetEvents keeps the events within their sources' budgets (main's own,
// sourceless and local events are not budgeted) and appends the summaries
// the budgets allow.
func (a *storeActor) budgetEvents(events []store.Event, now time.Time) []store.Event {
	if a.budgets == nil {
		a.budgets, a.held = map[string]*rate.Limiter{}, map[string]int{}
	}
	out := events[:0:0]
	for _, e := range events {
		if !strings.HasPrefix(e.Source, "agent:") {
			out = append(out, e)
			continue
		}
		lim := a.budgets[e.Source]
		if lim == nil {
			lim = rate.NewLimiter(rate.Every(eventEvery), eventBurst)
			a.budgets[e.Source] = lim
		}
		if lim.AllowN(now, 1) {
			out = append(out, e)
		} else {
			a.held[e.Source]++
		}
	}
	for _, src := range slices.Sorted(maps.Keys(a.held)) {
		if a.budgets[src].AllowN(now, 1) {
			out = append(out, store.Event{At: now, Level: store.LevelInfo, Kind: "summary", Source: src,
				Message: fmt.Sprintf("%s: %d more events were not recorded one by one (too many at once)", src, a.held[src])})
			delete(a.held, src)
		}
	}
	return out
}

// The event log is bounded: at most eventsKept events, none older than
// eventsMaxAge, pruned at start and every pruneEvery. Whatever a peer makes
// main record, the table cannot grow without end.
const (
	eventsKept   = 100_000
	eventsMaxAge = 90 * 24 * time.Hour
	pruneEvery   = time.Hour
)

type storePruneEvents struct{}

// NewStoreProps builds the store actor over an open database. The actor
// does not close it; whoever opened it does, after the actor stopped.
func NewStoreProps(db *store.Store, logger *slog.Logger) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &storeActor{db: db, logger: logger}
	}, withMiddleware(logger))
}

func (a *storeActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.work = make(chan func(context.Context), 1024)
		a.done = make(chan struct{})
		a.ctx, a.cancel = context.WithCancel(context.Background())
		go a.worker()
		ctx.Send(ctx.Self(), storePruneEvents{})
	case storePruneEvents:
		a.do(func(c context.Context) {
			n, err := a.db.PruneEvents(c, eventsKept, time.Now().Add(-eventsMaxAge))
			switch {
			case err != nil:
				a.logger.Error("pruning the event log failed", "err", err)
			case n > 0:
				a.logger.Info("pruned the event log", "removed", n, "kept_at_most", eventsKept, "max_age", eventsMaxAge)
			}
		})
		a.after(ctx, "prune", pruneEvery, storePruneEvents{})
	case *actor.Stopping, *actor.Restarting:
		if !a.pending.empty() {
			a.writeBatch(ctx) // the worker drains it before it stops
		}
		close(a.work)
		<-a.done // drain: writes queued before the stop are not lost
		a.cancel()
	case storeLoadRegistry:
		a.reply(ctx, func(c context.Context) any {
			var out storeRegistryLoaded
			if out.Claims, out.Err = a.db.Claims(c); out.Err != nil {
				return out
			}
			if out.Hosts, out.Err = a.db.Hostnames(c); out.Err != nil {
				return out
			}
			out.Agents, out.Err = a.db.Agents(c)
			return out
		})
	case storeRegistryWrites:
		// Coalesced: while a batch is being written, later writes of the
		// same hostname or claim replace each other, so what waits is one
		// row per hostname, however fast the registry decides.
		a.pending.add(m.Writes)
		if !a.writing {
			a.writeBatch(ctx)
		}
	case storeBatchWritten:
		a.writing = false
		if !a.pending.empty() {
			a.writeBatch(ctx)
		}
	case storeLoadOwned:
		a.reply(ctx, func(c context.Context) any {
			objs, err := a.db.Owned(c, m.Kind, m.Scope)
			return storeOwnedLoaded{Kind: m.Kind, Scope: m.Scope, Objects: objs, Err: err}
		})
	case storeApplyOwned:
		a.do(func(c context.Context) {
			if err := a.db.ApplyOwned(c, m.Puts, m.Deletes); err != nil {
				a.logger.Error("recording owned objects failed", "err", err, "puts", len(m.Puts), "deletes", len(m.Deletes))
			}
		})
	case storeAppendEvents:
		events := a.budgetEvents(m.Events, time.Now())
		if len(events) == 0 {
			return
		}
		a.do(func(c context.Context) {
			if err := a.db.AppendEvents(c, events); err != nil {
				a.logger.Error("appending to the event log failed", "err", err)
			}
		})
	case storePutAgent:
		a.do(func(c context.Context) {
			if err := a.db.PutAgent(c, m.Agent); err != nil {
				a.logger.Error("recording an agent failed", "agent", m.Agent.Name, "err", err)
			}
		})
	case storeLoadAgents:
		a.reply(ctx, func(c context.Context) any {
			var out storeAgentsLoaded
			if out.Agents, out.Err = a.db.Agents(c); out.Err != nil {
				return out
			}
			out.Revocations, out.Err = a.db.Revocations(c)
			return out
		})
	case storePutRevocation:
		a.do(func(c context.Context) {
			if err := a.db.PutRevocation(c, m.Revocation); err != nil {
				a.logger.Error("recording an agent's revocation failed", "agent", m.Revocation.Name, "err", err)
			}
		})
	case storeDeleteRevocation:
		a.do(func(c context.Context) {
			if err := a.db.DeleteRevocation(c, m.Name); err != nil {
				a.logger.Error("lifting an agent's revocation failed", "agent", m.Name, "err", err)
			}
		})
	case StoreQueryEvents:
		a.reply(ctx, func(c context.Context) any {
			evs, err := a.db.Events(c, m.Query)
			return StoreEventsPage{Events: evs, Err: err}
		})
	case StoreCheck:
		a.reply(ctx, func(c context.Context) any { return StoreChecked{Err: a.db.CheckWritable(c)} })
	}
}

func (a *storeActor) worker() {
	defer close(a.done)
	for fn := range a.work {
		c, cancel := context.WithTimeout(a.ctx, 30*time.Second)
		fn(c)
		cancel()
	}
}

func (a *storeActor) do(fn func(context.Context)) { a.work <- fn }

// writeBatch hands the pending registry writes to the worker as one
// transaction; the worker reports back when it is written.
func (a *storeActor) writeBatch(ctx actor.Context) {
	batch := a.pending.take()
	if batch.Empty() {
		return
	}
	a.writing = true
	self, root := ctx.Self(), ctx.ActorSystem().Root
	a.do(func(c context.Context) {
		if err := a.db.ApplyRegistry(c, batch); err != nil {
			a.logger.Error("persisting registry decisions failed", "hostnames", len(batch.PutHosts)+len(batch.DeleteHosts), "err", err)
		}
		root.Send(self, storeBatchWritten{})
	})
}

// pendingWrites are registry writes not handed to the worker yet, by key:
// a hostname's last put or delete; a claim's delete and first put.
type pendingWrites struct {
	hosts  map[string]*store.HostnameState // nil value: delete
	claims map[claimKeyOf]*claimWrite
}

type claimKeyOf struct{ host, source, container string }

type claimWrite struct {
	del bool
	put *store.Claim
}

func (p *pendingWrites) add(ws []storeWrite) {
	if p.hosts == nil {
		p.hosts, p.claims = map[string]*store.HostnameState{}, map[claimKeyOf]*claimWrite{}
	}
	claim := func(c *store.Claim) *claimWrite {
		k := claimKeyOf{c.Hostname, c.Source, c.Container}
		w := p.claims[k]
		if w == nil {
			w = &claimWrite{}
			p.claims[k] = w
		}
		return w
	}
	for _, w := range ws {
		switch {
		case w.putHost != nil:
			p.hosts[w.putHost.Hostname] = w.putHost
		case w.deleteHost != "":
			p.hosts[w.deleteHost] = nil
		case w.deleteClaim != nil:
			cw := claim(w.deleteClaim)
			cw.del, cw.put = true, nil
		case w.putClaim != nil:
			// The first put stands: a claim's registration time is never
			// overwritten.
			if cw := claim(w.putClaim); cw.put == nil {
				cw.put = w.putClaim
			}
		}
	}
}

func (p *pendingWrites) empty() bool { return len(p.hosts)+len(p.claims) == 0 }

// take returns the pending writes as a batch, in a stable order, and
// forgets them.
func (p *pendingWrites) take() store.RegistryBatch {
	var b store.RegistryBatch
	for _, h := range slices.Sorted(maps.Keys(p.hosts)) {
		if st := p.hosts[h]; st != nil {
			b.PutHosts = append(b.PutHosts, *st)
		} else {
			b.DeleteHosts = append(b.DeleteHosts, h)
		}
	}
	keys := slices.SortedFunc(maps.Keys(p.claims), func(a, b claimKeyOf) int {
		return cmp.Or(cmp.Compare(a.host, b.host), cmp.Compare(a.source, b.source), cmp.Compare(a.container, b.container))
	})
	for _, k := range keys {
		w := p.claims[k]
		if w.del {
			b.DeleteClaims = append(b.DeleteClaims, store.Claim{Hostname: k.host, Source: k.source, Container: k.container})
		}
		if w.put != nil {
			b.PutClaims = append(b.PutClaims, *w.put)
		}
	}
	p.hosts, p.claims = nil, nil
	return b
}

// reply runs fn on the worker and sends its result to the requester.
func (a *storeActor) reply(ctx actor.Context, fn func(context.Context) any) {
	// A read sees every write before it: the worker runs in order, so the
	// pending registry writes go first, even while a batch is in flight.
	if !a.pending.empty() {
		a.writeBatch(ctx)
	}
	to, root := ctx.Sender(), ctx.ActorSystem().Root
	if to == nil {
		a.logger.Warn("store request without a sender dropped", "type", typeName(ctx.Message()))
		return
	}
	a.do(func(c context.Context) { root.Send(to, fn(c)) })
}
