package actors

import (
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// BackoffStrategy restarts a failed child after a capped exponential delay
// with jitter: Initial, 2×Initial, 4×Initial … up to Max. A child that has
// not failed for Reset starts again from Initial. It never stops a child, so
// a crashing actor backs off instead of crash-looping or dying.
//
// protoactor's own NewExponentialBackoffStrategy grows linearly and has no
// cap (see reference/dependencies.md), hence this one.
type BackoffStrategy struct {
	Initial, Max, Reset time.Duration
	Logger              *slog.Logger
}

var _ actor.SupervisorStrategy = (*BackoffStrategy)(nil)

// DefaultBackoff is the strategy every supervisor in Labelgate uses.
func DefaultBackoff(logger *slog.Logger) *BackoffStrategy {
	return &BackoffStrategy{Initial: 100 * time.Millisecond, Max: 30 * time.Second, Reset: time.Minute, Logger: logger}
}

// HandleFailure implements actor.SupervisorStrategy.
func (s *BackoffStrategy) HandleFailure(_ *actor.ActorSystem, supervisor actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason, _ any) {
	if rs.NumberOfFailures(s.Reset) == 0 {
		rs.Reset()
	}
	rs.Fail()
	d := s.Delay(rs.FailureCount())
	if s.Logger != nil {
		s.Logger.Warn("actor failed; restarting after backoff", "actor", child.Id, "reason", reason, "failures", rs.FailureCount(), "delay", d)
	}
	time.AfterFunc(d, func() { supervisor.RestartChildren(child) })
}

// Delay is the wait before the n-th consecutive restart (n ≥ 1): the capped
// exponential delay, reduced by up to 20 % of jitter so that siblings that
// failed together do not restart together.
func (s *BackoffStrategy) Delay(n int) time.Duration { return backoffDelay(s.Initial, s.Max, n) }

// PanicLogger is a receiver middleware that logs the stack of a panic in
// Receive and re-panics, so supervision still runs but the stack is not lost
// (protoactor logs only the reason).
func PanicLogger(logger *slog.Logger) actor.ReceiverMiddleware {
	return func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			defer func() {
				if r := recover(); r != nil {
					logger.Error("actor panicked", "actor", c.Self().Id, "panic", r, "message_type", typeName(env.Message), "stack", string(debug.Stack()))
					panic(r)
				}
			}()
			next(c, env)
		}
	}
}
