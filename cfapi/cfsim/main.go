package cfsim

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Main runs the simulator as a process: `labelgate cfsim [flags]`. It serves
// until ctx is done, then shuts down gracefully. It returns the process exit
// code: 0 after a clean stop, 1 on a start-up failure, 2 on bad flags.
//
// Flags override the seed file's account and token.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cfsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8787", "address to listen on")
	seedFile := fs.String("seed", "", "YAML/JSON seed file (account, token, zones, tunnels, access, …)")
	token := fs.String("token", "", `accepted API token (default: the seed's, else "cfsim-token")`)
	account := fs.String("account", "", "account id (default: the seed's, else random)")
	batchCap := fs.Int("batch-cap", 0, fmt.Sprintf("max operations per DNS batch (default %d)", DefaultBatchCap))
	rateLimit := fs.String("rate-limit", "", `requests per window per token, e.g. "1200/300s"; "0" disables`)
	var zones, tunnels multiFlag
	fs.Var(&zones, "zone", "add a zone NAME[:PLAN] (repeatable)")
	fs.Var(&tunnels, "tunnel", "add a tunnel NAME[=ID] (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: labelgate cfsim [flags]\n\nRuns an in-memory Cloudflare API for tests and demos. Admin endpoints live under "+adminPrefix+"/.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "cfsim: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2
	}

	var sd Seed
	if *seedFile != "" {
		data, err := os.ReadFile(*seedFile)
		if err != nil {
			fmt.Fprintf(stderr, "cfsim: reading seed: %v\n", err)
			return 1
		}
		if sd, err = ParseSeed(data); err != nil {
			fmt.Fprintf(stderr, "cfsim: %v\n", err)
			return 1
		}
	}
	var opts []Option
	if tok := firstNonEmpty(*token, sd.Token); tok != "" {
		opts = append(opts, WithToken(tok))
	}
	if acc := firstNonEmpty(*account, sd.Account); acc != "" {
		opts = append(opts, WithAccountID(acc))
	}
	s := New(opts...)
	if err := s.ApplySeed(sd); err != nil {
		fmt.Fprintf(stderr, "cfsim: %v\n", err)
		return 1
	}
	if *batchCap > 0 {
		s.SetBatchCap(*batchCap)
	}
	if *rateLimit != "" {
		rl, err := parseRateFlag(*rateLimit)
		if err != nil {
			fmt.Fprintf(stderr, "cfsim: -rate-limit: %v\n", err)
			return 2
		}
		s.SetRateLimit(rl)
	}
	for _, z := range zones {
		name, plan, _ := strings.Cut(z, ":")
		s.AddZone(Zone{Name: name, Plan: plan})
	}
	for _, t := range tunnels {
		name, id, _ := strings.Cut(t, "=")
		s.AddTunnel(Tunnel{Name: name, ID: id})
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "cfsim: %v\n", err)
		return 1
	}
	s.URL = "http://" + ln.Addr().String()
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "cfsim: serving the Cloudflare API on %s (account %s, %d zone(s), %d tunnel(s)); admin under %s%s/\n",
		s.URL, s.AccountID, len(s.Zones()), len(s.Tunnels()), s.URL, adminPrefix)

	select {
	case <-ctx.Done():
	case err := <-errc:
		fmt.Fprintf(stderr, "cfsim: %v\n", err)
		return 1
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		fmt.Fprintf(stderr, "cfsim: shutting down: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "cfsim: stopped")
	return 0
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// parseRateFlag reads "N/DURATION" (or "0" to disable).
func parseRateFlag(v string) (RateLimit, error) {
	if v == "0" {
		return RateLimit{}, nil
	}
	n, d, ok := strings.Cut(v, "/")
	if !ok {
		return RateLimit{}, fmt.Errorf("%q is not REQUESTS/WINDOW", v)
	}
	req, err := strconv.Atoi(n)
	if err != nil || req < 0 {
		return RateLimit{}, fmt.Errorf("%q: bad request count", v)
	}
	win, err := time.ParseDuration(d)
	if err != nil || win <= 0 {
		return RateLimit{}, fmt.Errorf("%q: bad window", v)
	}
	return RateLimit{Requests: req, Window: win, Lockout: win}, nil
}
