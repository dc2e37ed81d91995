// Package actors holds Labelgate's protoactor-go actors, one per file, and the
// pure planners they call.
//
// It owns supervision, message routing and the decisions of DESIGN §4–§6. It
// never talks to Docker or Cloudflare directly: I/O goes through dockerwatch,
// bridge and cfapi, and its results come back to an actor as messages.
package actors
