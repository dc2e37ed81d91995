// Package ratelog bounds the log lines a network peer can cause. A peer that
// fails its handshake two thousand times a second, or floods a listener with
// connections, must not turn main's log into a denial of service of its own:
// a Line writes its first lines at once, then at most one per interval, and
// reports what it held back in one summary line ("N more like this").
//
// It owns nothing but its counters; it never decides what is worth logging.
// A Line is safe for concurrent use; the summary is written by a timer
// goroutine at most one interval after the first line held back, so nothing
// a peer caused goes unreported for longer than that.
package ratelog
