package bridge

import (
	"context"
	"time"
)

// RedialConfig configures StartRedial.
type RedialConfig struct {
	// Dial is what each attempt dials; its HandshakeTimeout bounds each
	// attempt, TCP to welcome.
	Dial DialConfig
	// Backoff paces the attempts (one Backoff per loop, never shared).
	Backoff BackoffConfig
	// OnConnected receives each authenticated connection; its receiver owns
	// it from then on (reads Recv, closes it). The loop waits for it to end
	// before it dials again. It is called on the loop's goroutine and must
	// not block: an actor sends itself a message.
	OnConnected func(*Conn)
	// OnFailed, when set, learns of every failed attempt and of the wait
	// before the next one.
	OnFailed func(err error, wait time.Duration)
	// OnEnded, when set, learns why a connection ended (its Err) before the
	// wait that follows it.
	OnEnded func(err error)
	// StopReason is the reason of the CodeGoingAway close that a connection
	// still open gets when the loop is stopped.
	StopReason string
}

// StartRedial keeps one connection to cfg.Dial.URL in the background: it
// dials, hands the connection to OnConnected, waits for it to end, and dials
// again, forever. A wait from cfg.Backoff comes after every failed attempt
// and after every connection, and starts again from Backoff.Min after a
// connection that lasted Backoff.StableAfter. The callbacks run on the
// loop's goroutine, one at a time.
//
// stop ends the loop: an attempt in progress is abandoned, a wait cut short,
// and an open connection closed with CodeGoingAway and StopReason. It
// returns once the loop has returned (and that connection has ended).
func StartRedial(cfg RedialConfig) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		redial(ctx, cfg)
	}()
	return func() { cancel(); <-done }
}

func redial(ctx context.Context, cfg RedialConfig) {
	b := NewBackoff(cfg.Backoff)
	for ctx.Err() == nil {
		conn, err := Dial(ctx, cfg.Dial)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			wait := b.Next()
			if cfg.OnFailed != nil {
				cfg.OnFailed(err, wait)
			}
			if sleep(ctx, wait) != nil {
				return
			}
			continue
		}
		b.Connected()
		cfg.OnConnected(conn)
		select {
		case <-conn.Done():
		case <-ctx.Done():
			conn.Close(CodeGoingAway, cfg.StopReason)
			<-conn.Done()
			return
		}
		if cfg.OnEnded != nil {
			cfg.OnEnded(conn.Err())
		}
		if b.Wait(ctx) != nil {
			return
		}
	}
}
