package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/labelgate/labelgate/messages"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/labelgate/labelgate/actors"
	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/metrics"
	"github.com/labelgate/labelgate/store"
	"github.com/labelgate/labelgate/surface"
	"github.com/labelgate/labelgate/web"
)

// runService is `labelgate` / `labelgate run`: load and validate the
// configuration (every problem at once), then run main or the agent until
// the context ends.
func runService(ctx context.Context, env map[string]string, stdout, stderr io.Writer) int {
	cfg, err := config.Load(config.Source{Env: env})
	if err != nil {
		var verr *config.ValidationError
		if errors.As(err, &verr) {
			fmt.Fprintf(stderr, "labelgate: the configuration has %d problem(s):\n", len(verr.Problems))
			for _, p := range verr.Problems {
				fmt.Fprintf(stderr, "  - %s\n", p.String())
			}
		} else {
			fmt.Fprintf(stderr, "labelgate: %v\n", err)
		}
		return 2
	}
	logger := newLogger(cfg, stderr)
	logger.Info("labelgate starting", "version", version, "commit", commit, "mode", cfg.Mode)
	for _, n := range startNotes {
		logger.Info(n, "uid", os.Getuid(), "gid", os.Getgid())
	}
	switch cfg.Mode {
	case config.ModeMain:
		err = runMain(ctx, cfg, logger, mainOptions{})
	case config.ModeAgent:
		err = runAgent(ctx, cfg, logger)
	default:
		err = fmt.Errorf("unknown mode %q", cfg.Mode)
	}
	if err != nil {
		logger.Error("labelgate stopped", "err", err)
		return 1
	}
	logger.Info("labelgate stopped")
	return 0
}

// mainOptions adjust runMain for the demo.
type mainOptions struct {
	deps actors.MainDeps
}

func runMain(ctx context.Context, cfg config.Config, logger *slog.Logger, opts mainOptions) error {
	if cfg.DryRun {
		logger.Warn("dry run: every change is planned and logged, nothing is written to Cloudflare")
	}
	db, err := store.Open(ctx, cfg.DBPath())
	if err != nil {
		return fmt.Errorf("opening the state database %s: %w", cfg.DBPath(), err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			logger.Error("closing the state database", "path", cfg.DBPath(), "err", err)
		}
	}()
	mx := metrics.New()
	deps := opts.deps
	deps.DB, deps.Logger, deps.Metrics = db, logger, mx
	m, err := actors.StartMain(cfg, deps)
	if err != nil {
		return err
	}
	logger.Info("main is running", "docker", cfg.Docker.Endpoint, "cloudflare_api", cfg.Cloudflare.APIURL, "tunnels", len(cfg.ResolvedTunnels()))
	backend := surface.New(m, cfg, version)
	var wg sync.WaitGroup
	serveErr := make(chan error, 1)
	if cfg.API.Enabled {
		h := web.New(webConfig(cfg, backend, mx, logger))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := web.Serve(ctx, cfg.API.Address, h, logger); err != nil {
				serveErr <- fmt.Errorf("serving the API on %s: %w", cfg.API.Address, err)
			}
		}()
		if cfg.API.Token.Reveal() == "" {
			logger.Warn("no LABELGATE_API_TOKEN: the API and dashboard are read-only and open to anyone who can reach them", "address", cfg.API.Address)
		}
	}
	wg.Add(1)
	go func() { defer wg.Done(); sampleObjectCounts(ctx, backend, mx) }()
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	logger.Info("stopping")
	m.Stop()
	wg.Wait()
	return err
}

// webConfig is the HTTP surface's part of the configuration.
func webConfig(cfg config.Config, backend web.Backend, mx *metrics.Metrics, logger *slog.Logger) web.Config {
	return web.Config{
		Backend:   backend,
		Metrics:   mx,
		Token:     cfg.API.Token.Reveal(),
		BehindTLS: cfg.API.BehindTLS,
		Version:   version,
		Logger:    logger,
	}
}

// sampleObjectCounts feeds the desired/applied gauges every few seconds.
func sampleObjectCounts(ctx context.Context, s *surface.Surface, m *metrics.Metrics) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		for kind, n := range s.ObjectCounts(c) {
			m.SetDesiredApplied(kind, n[0], n[1])
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// runAgent runs an agent: Docker watching and the link to main, plus the
// small health server.
func runAgent(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	m, err := actors.StartAgent(cfg, actors.AgentDeps{Logger: logger, Version: version})
	if err != nil {
		return err
	}
	logger.Info("agent is running", "mode", cfg.Connect.Mode, "endpoint", cfg.Connect.Endpoint, "listen", cfg.Connect.Listen, "docker", cfg.Docker.Endpoint)
	health := web.NewAgentHealth(func(c context.Context) web.AgentHealth {
		return agentHealth(c, m, string(cfg.Connect.Mode))
	})
	serveErr := make(chan error, 1)
	go func() {
		if err := web.Serve(ctx, cfg.Connect.HealthListen, health, logger); err != nil {
			serveErr <- fmt.Errorf("serving health on %s: %w", cfg.Connect.HealthListen, err)
		}
	}()
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	logger.Info("stopping")
	m.Stop()
	return err
}

func agentHealth(ctx context.Context, m *actors.Main, mode string) web.AgentHealth {
	h := web.AgentHealth{Mode: mode}
	c, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	res, err := m.Ask(c, actors.ChildLink, messages.QueryLink{})
	if err != nil {
		h.MainError = err.Error()
		return h
	}
	st := res.(messages.LinkStatus)
	h.MainConnected, h.MainError = st.Connected, st.LastError
	h.DockerConnected, h.DockerError = st.Docker, st.DockerError
	h.ListenerError = st.ListenerError
	return h
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
