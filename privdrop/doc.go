// Package privdrop is the first thing `labelgate` does: it gives up root.
//
// The image has no USER: it starts as root so that it can find the group
// that owns the mounted Docker socket, join it, make the data directory its
// own (a fresh volume or bind mount may be root's), and then become
// 65532:65532 before it loads the configuration, opens the database or
// listens. A user therefore needs no `group_add` for the documented compose
// files, and the process never serves a request as root.
//
// A container started with an explicit non-root user (`--user`, compose
// `user:`) is left as it is: no group is added and nothing is chowned. If
// the Docker socket is then not usable by that user, start-up fails with an
// error naming the fix (add the socket's group, or run without `user:`).
// An explicit `--user 0` cannot be told from the image's default and is
// dropped like it.
//
// Decide is the pure decision (which groups, whether to chown, when to
// fail), tested with facts made up in tests; Apply carries it out with the
// real system calls (syscall.Setgroups/Setgid/Setuid apply to every thread
// of a Go program on Linux), which the real-Docker test exercises.
// Nothing here reads the configuration file: the socket and the data
// directory come from the environment only (LABELGATE_DOCKER_ENDPOINT,
// DOCKER_HOST, LABELGATE_DATA_DIR), with the image's defaults.
package privdrop
