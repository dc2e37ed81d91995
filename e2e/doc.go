// Package e2e holds Labelgate's tests against the real Docker engine and the
// helpers they share: building the FROM-scratch image from the working tree,
// starting labelled workload containers, private networks, partitions.
//
// Two kinds of tests run against the engine:
//
//   - pipeline_test.go runs main in the test process (actors.StartMain)
//     against the engine and an in-process cfsim;
//   - the scenario suite (scenarios_test.go, hostile_test.go, image_test.go,
//     tls_test.go, demo_test.go) runs Labelgate as users do: cfsim, main
//     and agents are containers of the image (Cluster in cluster.go),
//     checked through cfsim's admin API (SimClient, Watcher in
//     simclient.go) and main's HTTP API. `make test-e2e` runs them
//     verbosely; each scenario logs what it measured, and
//     docs/benchmarks.md keeps the figures.
//
// These run only with LABELGATE_DOCKER_TESTS=1 (make test sets it when a
// Docker engine answers; .ci/run always does). Everything they create is
// named lge2e-<run>-… and carries the label lge2e.run=<run> (a compose
// project is named lge2e-<run>-demo), and is removed in t.Cleanup, also on
// failure. They use loopback, the local Docker socket and their own Docker
// networks only (hostile_test.go also floods main's agent port, published
// on loopback).
//
// compose_test.go needs no Docker and always runs: it checks every compose
// file under deploy/compose (labels, variables, inline configuration).
package e2e
