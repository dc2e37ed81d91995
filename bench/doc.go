// Package bench is Labelgate's benchmark harness (issue 8): the scenarios
// behind the figures in docs/benchmarks.md and the load generator of
// simulated agents. The binary bench/cmd/lgbench runs them (`make bench`,
// `make bench-smoke`); the scenarios that need simulated time are Go tests
// in this package (simtime_test.go) that lgbench runs with `go test`.
//
// # What it owns
//
//   - Scenarios: API calls to converge and in a steady state (RunCalls,
//     simulated time), latency from container start to ingress rule
//     (RunLatency), the fleet of simulated agents against a main process
//     (RunFleet), the Cloudflare budget under a burst (RunBudget, RunBudgetAccess),
//     an agent process's footprint (RunFootprint), main's memory under
//     hostile agents that flood it with snapshots near the frame cap
//     (RunHostile).
//   - The load generator (LoadGen): agents that speak the real bridge
//     protocol (bridge.Dial, token proof, announce, snapshot, ack) and
//     reconnect like the product's agent link (bridge.NewBackoff, same loop).
//   - Process measurement from /proc (VmRSS, utime+stime), the machine's
//     description, and the Markdown sections written to docs/benchmarks.md.
//
// # What it never does
//
// It never talks to anything but loopback and the local Docker engine
// (Cloudflare is cfsim, in process), never fails on a timing (a scenario
// returns an error only when something never converges or breaks), and is
// never linked into the labelgate binary. It imports dockerwatch/dockertest
// (a test helper) for the fake engine: this package is a test harness too.
//
// # Concurrency
//
// Scenarios run one at a time; each starts and stops everything it uses.
// A LoadGen runs one goroutine per simulated agent plus the connections'
// own; its counters are atomic and its methods are safe for concurrent use.
package bench
