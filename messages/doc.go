// Package messages holds the value types exchanged between actors.
//
// Types here are data only: no behaviour beyond validation and String, no
// pointers to shared mutable state. Events are named in the past tense,
// commands in the imperative.
//
// The state words that cross actors or reach the API are typed enums with
// constants (HostState, SourceStatus, AgentStatus in states.go); they are
// string-based, so JSON is unchanged, and the store keeps plain strings,
// converted where it is read and written.
//
// The queries, answers and commands between actors are in control.go. A
// message that must carry an actor's address (a subscription, an agent
// session's PID) stays in package actors: this package never imports the
// actor runtime, nor a package that imports it (plan, claims, bridge,
// store).
package messages
