package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/labelgate/labelgate/config"
)

// runHealthcheck is `labelgate healthcheck`, the image's HEALTHCHECK: it
// asks the running process's /healthz (main: the API address; agent: the
// health address) and exits 0 when it answers 200.
func runHealthcheck(ctx context.Context, args []string, env map[string]string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "URL to check (default: /healthz on this process's API or agent health address)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	target := *url
	if target == "" {
		cfg, err := config.Load(config.Source{Env: env})
		if err != nil {
			// An invalid configuration (the process would not run with it,
			// or the check runs with less of the environment): use the
			// defaults and the few variables that locate the server.
			cfg = config.Defaults()
			if env["LABELGATE_MODE"] == string(config.ModeAgent) {
				cfg.Mode = config.ModeAgent
			}
			cfg.API.Address = cmp.Or(env["LABELGATE_API_ADDRESS"], cfg.API.Address)
			cfg.Connect.HealthListen = cmp.Or(env["LABELGATE_CONNECT_HEALTH_LISTEN"], cfg.Connect.HealthListen)
		}
		addr := cfg.API.Address
		if cfg.Mode == config.ModeAgent {
			addr = cfg.Connect.HealthListen
		} else if !cfg.API.Enabled {
			fmt.Fprintln(stdout, "healthcheck: the API is disabled (LABELGATE_API_ENABLED=false); nothing to ask")
			return 0
		}
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			fmt.Fprintf(stderr, "healthcheck: address %q: %v\n", addr, err)
			return 1
		}
		target = "http://127.0.0.1:" + port + "/healthz"
	}
	c, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(c, http.MethodGet, target, nil)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return 1
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return 1
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "healthcheck: %s answered %s\n", target, res.Status)
		return 1
	}
	fmt.Fprintf(stdout, "healthcheck: %s ok\n", target)
	return 0
}
