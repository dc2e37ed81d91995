package actors

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// timers owns the scheduled messages of one actor incarnation. Each
// schedule has a purpose ("drift", "reconcile", "zones", …) and a purpose
// has at most one pending schedule: scheduling it again replaces (after) or
// keeps the earlier one (sooner). Every schedule ends with the incarnation:
// TimerMiddleware stops them all on Stopping and Restarting, and drops a
// message whose schedule was replaced, cancelled or belongs to an earlier
// incarnation before Receive sees it. So an actor that fails and restarts N
// times, or a retry that fires N times, never leaves N periodic chains
// behind.
//
// An actor embeds timers (the zero value is ready) and is built with
// withMiddleware, which installs TimerMiddleware.
type timers struct {
	pending map[string]timerEntry
}

type timerEntry struct {
	id uint64
	at time.Time
	t  *time.Timer
}

// timerSeq numbers schedules process-wide, so a new incarnation (a fresh
// timers value) never mistakes an earlier incarnation's message for its own.
var timerSeq atomic.Uint64

// timerFired is what a schedule sends; TimerMiddleware unwraps it.
type timerFired struct {
	purpose string
	id      uint64
	msg     any
}

// timerOwner is an actor with timers (any actor that embeds timers).
type timerOwner interface{ actorTimers() *timers }

func (t *timers) actorTimers() *timers { return t }

// after schedules msg to this actor in d, replacing the pending schedule of
// purpose if there is one.
func (t *timers) after(ctx actor.Context, purpose string, d time.Duration, msg any) {
	t.cancel(purpose)
	if t.pending == nil {
		t.pending = map[string]timerEntry{}
	}
	d = max(d, 0)
	id := timerSeq.Add(1)
	self, root := ctx.Self(), ctx.ActorSystem().Root
	fired := timerFired{purpose: purpose, id: id, msg: msg}
	t.pending[purpose] = timerEntry{id: id, at: time.Now().Add(d), t: time.AfterFunc(d, func() { root.Send(self, fired) })}
}

// sooner schedules msg in d unless a schedule of purpose is already due by
// then; it reports whether it scheduled.
func (t *timers) sooner(ctx actor.Context, purpose string, d time.Duration, msg any) bool {
	if e, ok := t.pending[purpose]; ok && !e.at.After(time.Now().Add(max(d, 0))) {
		return false
	}
	t.after(ctx, purpose, d, msg)
	return true
}

// cancel drops the pending schedule of purpose, if any.
func (t *timers) cancel(purpose string) {
	if e, ok := t.pending[purpose]; ok {
		e.t.Stop()
		delete(t.pending, purpose)
	}
}

// stopAll cancels every schedule (the incarnation ends).
func (t *timers) stopAll() {
	for p := range t.pending {
		t.cancel(p)
	}
}

// take reports whether a fired schedule is still the current one of its
// purpose, and forgets it (it has fired).
func (t *timers) take(f timerFired) bool {
	e, ok := t.pending[f.purpose]
	if !ok || e.id != f.id {
		return false
	}
	delete(t.pending, f.purpose)
	return true
}

// TimerMiddleware delivers the messages of an actor's timers: the message of
// a current schedule reaches Receive as itself; a stale one (replaced,
// cancelled, or from an earlier incarnation of the actor at this PID) is
// dropped. On Stopping and Restarting it stops every schedule of the ending
// incarnation.
func TimerMiddleware(next actor.ReceiverFunc) actor.ReceiverFunc {
	return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
		switch m := env.Message.(type) {
		case timerFired:
			o, ok := c.Actor().(timerOwner)
			if !ok || !o.actorTimers().take(m) {
				return
			}
			env = &actor.MessageEnvelope{Header: env.Header, Message: m.msg, Sender: env.Sender}
		case *actor.Stopping, *actor.Restarting:
			if o, ok := c.Actor().(timerOwner); ok {
				o.actorTimers().stopAll()
			}
		}
		next(c, env)
	}
}

// withMiddleware is the receiver middleware of every Labelgate actor: the
// panic logger outside, the timers inside.
func withMiddleware(logger *slog.Logger) actor.PropsOption {
	return actor.WithReceiverMiddleware(PanicLogger(logger), TimerMiddleware)
}
