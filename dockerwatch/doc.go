// Package dockerwatch is the Docker boundary: it lists containers (and,
// on a Swarm manager, services), follows the event stream, reconnects with
// backoff and turns what it sees into versioned messages.ContainerSet
// values. Nothing outside this package sees a moby type.
//
// # What it owns
//
//   - The connection to one engine (unix:// or tcp://, TLS for tcp) through
//     the narrow Client interface; NewClient builds the moby client. It only
//     reads: GET /_ping, /containers/json, /containers/{id}/json and /events,
//     so a socket proxy needs containers and events allowed, nothing more.
//     Unless Swarm is off it also reads GET /info and, on a manager,
//     /services (a socket proxy then needs INFO and SERVICES too; one that
//     refuses /info makes auto read "not a manager").
//   - Swarm services (Config.Swarm): with auto, on every full observation
//     (session start, poll) the engine is asked whether it is an active
//     Swarm manager; on one, every service whose spec labels pass the
//     same filter and prefix rules is a set member of Kind "service",
//     named by the service's name. A service event while services are not
//     watched makes the next observation ask again. A service scaled to 0
//     still exists and stays in the set. With true, an engine that is not
//     a manager fails the observation with an error that says so; with
//     false, Swarm is never asked about. A failed /info or service list is
//     a failed observation like a failed container list.
//   - Selection: running, restarting and paused containers that match the
//     optional filter label ("key" or "key=value", applied by the engine in
//     both the list and the event subscription) and carry at least one label
//     under LabelPrefix + ".". Stopped containers are absent.
//   - The truth is always a fresh ContainerList. Events only say "look
//     again": they trigger a debounced re-list and mark which containers
//     need a fresh inspect. No delta is ever applied by hand.
//
// # What it never does
//
//   - It never interprets labels beyond the filter and the prefix; it sends
//     every label of a selected container raw. Only main parses labels.
//   - It never emits a set derived from a failed observation. A failed list
//     or inspect keeps the last emitted set, reports the error through
//     status, and reconnects with backoff. "Docker is unreachable" never
//     reads as "no containers".
//   - It never reads environment variables; the config package resolves
//     DOCKER_HOST and LABELGATE_DOCKER_* into Config.
//
// # Lifecycle and timing
//
// A session is: ping, subscribe to container events (start, die, stop,
// destroy, rename, update, health_status, pause, unpause) and to network
// connect/disconnect (and service create/update/remove unless Swarm is
// off), list with a fresh inspect of every member, report
// connected. Then:
//
//	event                      → re-list after Debounce of quiet, at most
//	                             5×Debounce after the burst's first event
//	every PollInterval         → full re-list and re-inspect
//	stream error, list error   → disconnected; wait (backoff); new session
//
// Backoff doubles from Backoff.Initial up to Backoff.Max, each wait
// shortened by up to Backoff.Jitter of itself; a connection that stayed
// healthy for Backoff.Max resets it. Every wait is a timer stopped by ctx.
// A new session subscribes with Since = the newest event seen; the full
// list at its start is what makes it correct, the replay only adds a
// harmless extra list.
//
// # Ordering and concurrency guarantees
//
//   - Run calls emit and status from its own goroutine, one call at a time,
//     in the order things happened. Only one Run per Watcher at a time.
//   - Every emitted set is complete, sorted by container name, networks
//     sorted by name. Version strictly increases: it is the wall clock in
//     nanoseconds, or the previous version + 1 when the clock has not moved
//     past it, so a restarted watcher still counts up.
//   - The first successful list of a Run is always emitted (even when
//     empty); later lists are emitted only when the set differs from the
//     last emitted one. A periodic re-list that finds no change emits
//     nothing.
//   - Run returns only after every goroutine it caused (the client's event
//     stream goroutines included) has ended.
//
// # Where fields come from
//
// The list summary gives ID, name, labels, state, networks and IPs.
// Inspect gives created and started times and health (State.Health, which
// every API version reports; the list summary has health only from API
// 1.52 and no start time). Inspects are cached per container and redone
// when the container is new, was named by an event, changed list state, or
// on every full re-list.
package dockerwatch
