package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/labelgate/labelgate/actors"
	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/store"
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
	switch cfg.Mode {
	case config.ModeMain:
		err = runMain(ctx, cfg, logger, mainOptions{})
	default:
		err = fmt.Errorf("mode %q is not available in this build yet", cfg.Mode)
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
	defer db.Close()
	deps := opts.deps
	deps.DB, deps.Logger = db, logger
	m, err := actors.StartMain(cfg, deps)
	if err != nil {
		return err
	}
	logger.Info("main is running", "docker", cfg.Docker.Endpoint, "cloudflare_api", cfg.Cloudflare.APIURL, "tunnels", len(cfg.ResolvedTunnels()))
	<-ctx.Done()
	logger.Info("stopping")
	m.Stop()
	return nil
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
