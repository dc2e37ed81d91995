// Package dockerwatch is the Docker boundary: it lists containers, follows the
// event stream, reconnects with backoff and turns what it sees into versioned
// container sets.
//
// It never interprets labels beyond the optional filter label.
package dockerwatch
