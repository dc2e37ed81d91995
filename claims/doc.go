// Package claims is the one validation path of a container's labels: it
// turns one container's labels into claims — per hostname, the tunnel rules
// (plus the proxied CNAME `<tunnel-id>.cfargotunnel.com`), DNS records and
// Access binding it wants — and the errors that refuse the rest, each naming
// the container's label at fault.
//
// It owns the checks that span one container: the label schema (through
// labels.Parse), tunnel assignment (label > main's default for the agent >
// the agent's announced default > the global default; an unknown name is an
// error), an agent's scope (hostnames, zones, tunnels), one tunnel per
// hostname, one route per hostname and path, one Access template per
// hostname (a route with a path has its own, on a plain-prefix path), no DNS
// record on a tunnel hostname, a CNAME alone at its name,
// no record given twice. Every error is attributed to a Check, and Checks
// lists them all.
//
// Main's registry calls Build for every container it sees; `labelgate
// check` calls Lint for every service of a compose file (or the KEY=VALUE
// lines on its standard input). What needs main's configuration (tunnels,
// default tunnels, agent scopes) is an input, Config; a caller that cannot
// know part of it says so in Config.Unknown, and the checks that depend on
// that part are not made.
//
// It never does I/O, never logs, and never decides between containers:
// conflicts between containers or sources (first registration wins), Access
// template ownership and the error budgets are the registry's (package
// actors).
package claims
