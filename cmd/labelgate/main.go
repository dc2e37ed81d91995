// Command labelgate turns Docker container labels into Cloudflare configuration.
//
// One binary serves every role: the main instance, the agent, and the
// operator's tools (version, check, …). See README.md for the quick start.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/labelgate/labelgate/cfapi/cfsim"
	"github.com/labelgate/labelgate/privdrop"

	// The CA roots inside the binary: the image is FROM scratch and still
	// reaches the Cloudflare API over verified TLS.
	_ "golang.org/x/crypto/x509roots/fallback"
)

// Set by -ldflags in the Makefile.
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	// Before anything opens a file or listens: give up root (package
	// privdrop; the image starts as root for this step only).
	env := environ()
	notes, err := privdrop.Real.Run(env, needs(os.Args[1:]))
	if err != nil {
		fmt.Fprintf(os.Stderr, "labelgate: %v\n", err)
		os.Exit(1)
	}
	startNotes = notes
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, env)
	stop()
	os.Exit(code)
}

// startNotes are privdrop's notes, logged by runService once the logger
// exists.
var startNotes []string

// needs is what a subcommand needs of the start-up step: the service (run,
// or no command) the Docker socket and its data directory, demo the socket;
// the others (healthcheck, check, cfsim, hello, version) nothing — they drop
// root as well, without touching any file.
func needs(args []string) privdrop.Needs {
	cmd := ""
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "", "run":
		return privdrop.Needs{Docker: true, DataDir: true}
	case "demo":
		return privdrop.Needs{Docker: true}
	default:
		return privdrop.Needs{}
	}
}

// run dispatches a subcommand and returns the process exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env map[string]string) int {
	cmd := ""
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "", "run":
		return runService(ctx, env, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "check":
		return runCheck(args, stdin, stdout, stderr, env)
	case "cfsim":
		return cfsim.Main(ctx, args, stdout, stderr)
	case "demo":
		return runDemo(ctx, args, env, stdout, stderr)
	case "healthcheck":
		return runHealthcheck(ctx, args, env, stdout, stderr)
	case "hello":
		return runHello(ctx, args, stdout, stderr)
	case "help", "--help", "-h":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "labelgate: unknown command %q\n\n", cmd)
		usage(stderr)
		return 2
	}
}

// environ is the process environment as a map; commands take it as a value
// so tests can pass their own.
func environ() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

func versionString() string {
	return fmt.Sprintf("labelgate %s (commit %s, %s %s/%s)", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: labelgate <command> [arguments]

With no command, labelgate runs as main or agent (LABELGATE_MODE), configured
by LABELGATE_* variables and the optional YAML file (docs/configuration.md).

Commands:
  run            the same as no command
  check          lint labels in a compose file (or KEY=VALUE lines on stdin)
  cfsim          run the Cloudflare API simulator (for tests, the demo, staging)
  demo           run main on the local Docker engine against an in-process simulated Cloudflare
  healthcheck    ask the running process's /healthz (the image's HEALTHCHECK)
  hello          a tiny HTTP service answering with the host name (a demo and test workload)
  version        print version, commit and Go version
  help           show this help
`)
}
