// Command sleeper is the process inside the real-Docker tests' containers:
// a static binary for a FROM scratch image that waits for SIGTERM or
// SIGINT and exits 0. "sleeper health" exits 0 at once, for HEALTHCHECK.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "health" {
		return
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
