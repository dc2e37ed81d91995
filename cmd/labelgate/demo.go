package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/cfapi/cfsim"
	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/dockerwatch"
)

// runDemo is `labelgate demo`: main on the local Docker engine against an
// in-process Cloudflare simulator (never the real API), so anyone can watch
// labelled containers become tunnel routes and DNS records on this machine.
func runDemo(ctx context.Context, args []string, env map[string]string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	simAddr := fs.String("cfsim-listen", "127.0.0.1:8787", "address of the simulated Cloudflare API")
	zone := fs.String("zone", "example.com", "the simulated zone")
	dataDir := fs.String("data-dir", "", "state directory (default: a fresh temporary directory)")
	example := fs.String("example", "", "start a labelled example container from this image (running `labelgate hello`), removed on exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}

	sim := cfsim.New()
	sim.AddZone(cfsim.Zone{Name: *zone})
	tun := sim.AddTunnel(cfsim.Tunnel{Name: "demo"})
	ln, err := net.Listen("tcp", *simAddr)
	if err != nil {
		fmt.Fprintf(stderr, "labelgate demo: %v\n", err)
		return 1
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Close() }() // the in-process simulator, stopping with the demo
	simURL := "http://" + ln.Addr().String()

	dir := *dataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "labelgate-demo-"); err != nil {
			fmt.Fprintf(stderr, "labelgate demo: %v\n", err)
			return 1
		}
		defer func() { _ = os.RemoveAll(dir) }() // a temporary directory
	}
	// The user's environment still applies (Docker endpoint, log level,
	// prefix, grace…); only Cloudflare is pinned to the simulator.
	denv := map[string]string{}
	for k, v := range env {
		denv[k] = v
	}
	for k, v := range map[string]string{
		"LABELGATE_MODE":                  "main",
		"LABELGATE_CLOUDFLARE_API_URL":    simURL,
		"LABELGATE_CLOUDFLARE_API_TOKEN":  sim.Token,
		"LABELGATE_CLOUDFLARE_ACCOUNT_ID": sim.AccountID,
		"LABELGATE_CLOUDFLARE_TUNNEL_ID":  tun.ID,
		"LABELGATE_DATA_DIR":              dir,
		"LABELGATE_CONFIG":                os.DevNull,
	} {
		denv[k] = v
	}
	if denv["LABELGATE_SYNC_REMOVE_DELAY"] == "" {
		denv["LABELGATE_SYNC_REMOVE_DELAY"] = "1m"
	}
	if denv["LABELGATE_SYNC_SETTLE_TIMEOUT"] == "" {
		denv["LABELGATE_SYNC_SETTLE_TIMEOUT"] = "10s"
	}
	cfg, err := config.Load(config.Source{Env: denv})
	if err != nil {
		fmt.Fprintf(stderr, "labelgate demo: %v\n", err)
		return 2
	}
	logger := newLogger(cfg, stderr)
	fmt.Fprintf(stdout, `
  Labelgate demo — Cloudflare is SIMULATED (in-process cfsim); nothing reaches the real API.
    simulated API:   %s  (token %s, zone %s, tunnel %s)
    simulated state: %s/__cfsim/state
    Docker engine:   %s
    dashboard:       %s  (and the API under /api/v1/, metrics at /metrics)
  Start a labelled container, for example:
    docker run -d --name demo-web -l labelgate.tunnel.web.hostname=web.%s \
      -l labelgate.tunnel.web.service=http://demo-web:8080 labelgate:dev hello
  and watch the route appear below. Ctrl-C stops the demo.

`, simURL, sim.Token, *zone, tun.ID, simURL, cfg.Docker.Endpoint, dashboardURL(cfg.API.Address), *zone)
	logger.Warn("SIMULATED Cloudflare: this demo writes to an in-process simulator, not to Cloudflare", "api", simURL)
	go watchSimulatedTunnel(ctx, sim, tun.ID, stdout)
	if *example != "" {
		stop, err := startExample(ctx, cfg.Docker.Endpoint, *example, *zone, stdout)
		if err != nil {
			logger.Error("starting the example container failed", "err", err)
			return 1
		}
		defer stop()
	}
	if err := runMain(ctx, cfg, logger, mainOptions{}); err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("demo stopped", "err", err)
		return 1
	}
	return 0
}

// dashboardURL is where a browser on this machine reaches main's API
// listening on address (host:port, validated by config.Load): a wildcard or
// empty host is reached as localhost, an IPv6 host in brackets (its zone
// escaped).
func dashboardURL(address string) string {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return "http://" + address + "/"
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return (&url.URL{Scheme: "http", Host: net.JoinHostPort(host, port), Path: "/"}).String()
}

// watchSimulatedTunnel prints the simulated tunnel's ingress whenever it
// changes, so the demo shows routes appear and disappear.
func watchSimulatedTunnel(ctx context.Context, sim *cfsim.Server, tunnelID string, out io.Writer) {
	last := ""
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cfg, ok := sim.TunnelConfigOf(tunnelID)
		if !ok {
			continue
		}
		var doc cfapi.TunnelConfig
		if err := doc.UnmarshalJSON(cfg.Config); err != nil {
			continue
		}
		var rules []string
		for _, r := range doc.Ingress {
			rules = append(rules, strings.TrimSpace(r.Hostname+" "+r.Path)+" → "+r.Service)
		}
		if now := strings.Join(rules, "\n    "); now != last {
			last = now
			fmt.Fprintf(out, "\n  simulated tunnel configuration (version %d):\n    %s\n\n", cfg.Version, now)
		}
	}
}

// startExample runs a labelled `labelgate hello` container and returns a
// function that removes it.
func startExample(ctx context.Context, endpoint, image, zone string, out io.Writer) (func(), error) {
	cli, err := dockerwatch.NewClient(dockerwatch.Config{Endpoint: endpoint})
	if err != nil {
		return nil, err
	}
	mc, ok := cli.(*client.Client)
	if !ok {
		return nil, fmt.Errorf("unexpected Docker client type %T", cli)
	}
	const name = "labelgate-demo-web"
	_, _ = mc.ContainerRemove(ctx, name, client.ContainerRemoveOptions{Force: true})
	host := "web." + zone
	created, err := mc.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: name,
		Config: &container.Config{Image: image, Cmd: []string{"hello"}, Labels: map[string]string{
			"labelgate.tunnel.web.hostname": host,
			"labelgate.tunnel.web.service":  "http://" + name + ":8080",
			"labelgate.tunnel.web.cleanup":  "true",
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("creating %s from %s: %w", name, image, err)
	}
	if _, err := mc.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	fmt.Fprintf(out, "  started the example container %s (labels route %s to it)\n", name, host)
	return func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = mc.ContainerRemove(c, created.ID, client.ContainerRemoveOptions{Force: true})
		_ = mc.Close() // it closes idle connections; nothing is lost
		fmt.Fprintf(out, "  removed the example container %s\n", name)
	}, nil
}
