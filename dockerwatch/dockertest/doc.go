// Package dockertest is a test helper: an in-memory Docker engine that
// tests drive instead of a real daemon. Engine has the method set of
// dockerwatch.Client (Ping, ContainerList, ContainerInspect, Events, Info,
// ServiceList, Close with the moby client v0.6.2 signatures), so a test hands it to anything
// that takes a dockerwatch.Client. Import it from _test.go files only.
//
// # What it fakes
//
//   - Containers that the test creates and changes with helpers named after
//     what happens on a host: Start, Stop, Remove, Rename, SetHealth,
//     Connect. Each publishes the events the engine publishes for it
//     (Stop: die, then stop). Add, AddAt, RemoveSilently and Edit change
//     the engine without any event, as if it happened before the
//     subscription or the event was lost.
//   - ContainerList honours All and the "status" and "label" filters;
//     ContainerInspect answers State (status, running, started, health),
//     Created, Name and Config.Labels, and a not-found error (matching
//     cerrdefs.IsNotFound) for unknown containers.
//   - Events honours the "type", "event" and "label" filters as the engine
//     does: every term must match, any value within a term may, and
//     "health_status" matches every "health_status: …" action. Container
//     events carry the labels and "name" as attributes; network events
//     carry "container" and "name".
//   - Swarm: SetSwarm sets the node state and manager flag Info reports (a
//     new engine is not in a swarm); CreateService, EditService and
//     RemoveService change services and publish create, update and remove
//     service events (attribute "name" only, as the engine's). ServiceList
//     honours "label" filters and answers ErrNotManager unless the engine
//     is an active manager.
//   - Failures: SetPingError, SetListError and SetInspectError make every
//     call fail until cleared with nil; SetInfoError and SetServiceListError
//     likewise; SetInspectGone makes one container
//     vanish for inspect only; BreakStreams ends every open event stream
//     like a daemon going away.
//   - Observation: Counts, ServiceListCalls, ListOptions, EventOptions, OpenStreams and
//     Closed report what the code under test asked for.
//
// # What it does not fake
//
// No images, exec, logs or writes through the API. Since and Until are
// recorded but not honoured: nothing is replayed, a stream only sees what
// is published while it is open. Filters other than the ones above are
// recorded and ignored.
//
// # Concurrency and ordering
//
// An Engine is safe for concurrent use. A helper that publishes returns
// only after its events are queued on every open stream whose filters
// match, so an event happens before anything the test does next. Each
// stream delivers its events in publish order; its queue is unbounded, so
// a slow reader never blocks or fails a publisher. As in the moby client,
// Messages is never closed, Err receives at most one error (ctx.Err() after
// cancellation, or the BreakStreams error) and is closed once the stream's
// goroutine has ended; a stream counts in OpenStreams until then.
//
// All of the engine's goroutines are started by Events and end with its
// stream, so an Engine works inside a testing/synctest bubble.
package dockertest
