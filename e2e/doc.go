// Package e2e holds Labelgate's tests against the real Docker engine and the
// helpers they share: building the FROM-scratch image from the working tree,
// starting labelled workload containers, private networks, partitions.
//
// The tests run only with LABELGATE_DOCKER_TESTS=1 (make test sets it when a
// Docker engine answers; .ci/run always does). Everything they create is
// named lge2e-<run>-… and carries the label lge2e.run=<run>, and is removed
// in t.Cleanup, also on failure. They use loopback, the local Docker socket
// and their own Docker networks only.
package e2e
