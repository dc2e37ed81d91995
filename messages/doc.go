// Package messages holds the value types exchanged between actors.
//
// Types here are data only: no behaviour beyond validation and String, no
// pointers to shared mutable state. Events are named in the past tense,
// commands in the imperative.
package messages
