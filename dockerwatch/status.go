package dockerwatch

import "time"

// Status is the watcher's connection state, reported through Run's status
// callback whenever it changes: on every successful connect and on every
// failure (a lost stream, a failed list, a failed reconnection attempt).
type Status struct {
	// Connected is true while the event stream is open and the last list
	// succeeded: the emitted set is current.
	Connected bool
	// Since is when Connected last changed (for a failed attempt while
	// already disconnected it is unchanged).
	Since time.Time
	// LastError is the most recent failure and LastErrorAt when it
	// happened. They are kept after a recovery, for diagnostics; Connected
	// says whether the error still applies.
	LastError   error
	LastErrorAt time.Time
	// Failures counts consecutive failures since the last successful
	// connect; zero while connected.
	Failures int
	// Reconnects counts successful connects after the first one.
	Reconnects uint64
	// RetryAt is when the next connection attempt starts; zero while
	// connected.
	RetryAt time.Time
	// Swarm is whether Swarm services are in the set, and SwarmWhy the
	// reason of the last decision ("" until one was made, and with
	// docker.swarm false).
	Swarm    bool
	SwarmWhy string
}
