// Package labels is Labelgate's label schema: it turns one container's raw
// labels into validated specs — DNS records, tunnel ingress rules and Access
// templates — and a list of errors, each naming the label key at fault.
//
// Labels have the form `<prefix>.<kind>.<service>.<property>`, compatible
// with the upstream labelgate schema (docs/labels.md documents every key).
//
// The parser is a pure function of its input: it never logs, never does I/O
// and never consults configuration beyond its Options. One bad service never
// hides the others, and an unknown kind or property is an error, so typos do
// not pass silently. Everything that needs knowledge beyond one container
// (whether a tunnel name or an access template exists, conflicts between
// hostnames) belongs to the registry.
//
// Output is deterministic: services sorted by name, errors by key.
package labels
