package dockertest

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// stream is one open Events subscription. queue is guarded by the
// engine's mu; wake (one slot) tells the stream's goroutine that queue
// grew, fail (one slot) ends the stream with an error.
type stream struct {
	opts  client.EventsListOptions
	queue []events.Message
	wake  chan struct{}
	fail  chan error
}

// Events opens a stream that receives every event published from now on
// that matches opts.Filters; see the package doc for the contract.
func (e *Engine) Events(ctx context.Context, opts client.EventsListOptions) client.EventsResult {
	msgs := make(chan events.Message)
	errs := make(chan error, 1)
	s := &stream{opts: opts, wake: make(chan struct{}, 1), fail: make(chan error, 1)}
	e.mu.Lock()
	e.eventOpts = append(e.eventOpts, opts)
	e.streams = append(e.streams, s)
	e.mu.Unlock()
	go func() {
		defer close(errs)
		defer e.dropStream(s)
		for {
			// out stays nil (never ready) while there is nothing to send.
			var out chan events.Message
			var next events.Message
			e.mu.Lock()
			if len(s.queue) > 0 {
				out, next = msgs, s.queue[0]
			}
			e.mu.Unlock()
			select {
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			case err := <-s.fail:
				errs <- err
				return
			case <-s.wake:
			case out <- next:
				e.mu.Lock()
				s.queue[0] = events.Message{}
				s.queue = s.queue[1:]
				e.mu.Unlock()
			}
		}
	}()
	return client.EventsResult{Messages: msgs, Err: errs}
}

func (e *Engine) dropStream(s *stream) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.streams = slices.DeleteFunc(e.streams, func(x *stream) bool { return x == s })
}

// BreakStreams ends every open stream with err, like a daemon going away.
// Events still queued on them are lost.
func (e *Engine) BreakStreams(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.streams {
		s.fail <- err
	}
	e.streams = nil
}

// OpenStreams returns how many event streams are open: subscribed and not
// yet ended by their context or BreakStreams.
func (e *Engine) OpenStreams() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.streams)
}

// publishContainer sends a container event carrying name and labels, as
// the engine does for every action.
func (e *Engine) publishContainer(id string, action events.Action) {
	e.mu.Lock()
	c := e.mustGet(id)
	attrs := maps.Clone(c.Labels)
	if attrs == nil {
		attrs = map[string]string{}
	}
	attrs["name"] = c.Name
	e.mu.Unlock()
	e.publish(events.Message{
		Type:   events.ContainerEventType,
		Action: action,
		Actor:  events.Actor{ID: id, Attributes: attrs},
	})
}

// publishNetwork sends the connect event of network for container id.
func (e *Engine) publishNetwork(id, network string) {
	e.publish(events.Message{
		Type:   events.NetworkEventType,
		Action: events.ActionConnect,
		Actor:  events.Actor{ID: "net-" + network, Attributes: map[string]string{"container": id, "name": network}},
	})
}

// publish queues m on every open stream whose filters match.
func (e *Engine) publish(m events.Message) {
	now := time.Now()
	m.Time, m.TimeNano = now.Unix(), now.UnixNano()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.streams {
		if eventMatches(s.opts.Filters, m) {
			s.queue = append(s.queue, m)
			select {
			case s.wake <- struct{}{}:
			default: // already awake
			}
		}
	}
}

// eventMatches applies the engine's event filters: every term must match;
// within a term any value may. health_status matches by prefix, as the
// engine does.
func eventMatches(filters client.Filters, m events.Message) bool {
	if t := filters["type"]; len(t) > 0 && !t[string(m.Type)] {
		return false
	}
	if ev := filters["event"]; len(ev) > 0 && !ev[string(m.Action)] {
		if !ev["health_status"] || !strings.HasPrefix(string(m.Action), "health_status") {
			return false
		}
	}
	return labelsMatch(filters["label"], m.Actor.Attributes)
}

// labelsMatch applies "label" filter values ("key" or "key=value"); all of
// them must match, as in the engine.
func labelsMatch(values map[string]bool, labels map[string]string) bool {
	for v := range values {
		k, want, hasValue := strings.Cut(v, "=")
		got, ok := labels[k]
		if !ok || (hasValue && got != want) {
			return false
		}
	}
	return true
}
