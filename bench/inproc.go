package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/labelgate/labelgate/actors"
	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/dockerwatch"
	"github.com/labelgate/labelgate/publicip"
	"github.com/labelgate/labelgate/store"
)

// MainOptions configure an in-process main.
type MainOptions struct {
	Sim *Sim
	// Docker is main's engine (a dockertest.Engine); nil uses the real
	// engine at Config.Docker.Endpoint.
	Docker dockerwatch.Client
	// DataDir holds the database; required.
	DataDir string
	// Tweak adjusts the configuration after the benchmark defaults.
	Tweak  func(*config.Config)
	Logger *slog.Logger
}

// InProcMain is main's actor tree in this process (actors.StartMain, as
// cmd/labelgate runs it, without the HTTP surface), with a real SQLite
// store.
type InProcMain struct {
	Main *actors.Main
	DB   *store.Store
	Cfg  config.Config
}

// BaseConfig is main's configuration for a scenario: the defaults (the
// 500 ms docker.debounce among them), Cloudflare = sim, no public IP
// lookups (nothing may leave the machine).
func BaseConfig(sim *Sim, dataDir string) config.Config {
	cfg := config.Defaults()
	cfg.Cloudflare.APIToken = config.Secret(sim.Token)
	cfg.Cloudflare.AccountID = sim.AccountID
	cfg.Cloudflare.TunnelID = sim.TunnelID
	cfg.Cloudflare.APIURL = sim.URL
	cfg.DataDir = dataDir
	cfg.Sync.PublicIPSources = []string{"http://127.0.0.1:1/"}
	return cfg
}

// StartInProcMain opens the store and starts main.
func StartInProcMain(ctx context.Context, o MainOptions) (*InProcMain, error) {
	if o.DataDir == "" {
		return nil, errors.New("starting main: no data directory")
	}
	cfg := BaseConfig(o.Sim, o.DataDir)
	if o.Tweak != nil {
		o.Tweak(&cfg)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := store.Open(ctx, cfg.DBPath())
	if err != nil {
		return nil, fmt.Errorf("opening the store: %w", err)
	}
	deps := actors.MainDeps{
		DB: db, Logger: log,
		// No lookups leave the machine: every source fails at once.
		PublicIP: &publicip.Discoverer{Sources: cfg.Sync.PublicIPSources, Timeout: time.Second,
			Dial: func(context.Context, string, string) (net.Conn, error) {
				return nil, errors.New("the benchmark has no network")
			}},
	}
	if hc := o.Sim.HTTPClient; hc != nil {
		deps.NewAPI = func(token, account string) (cfapi.API, error) {
			return cfapi.New(cfapi.Config{BaseURL: o.Sim.URL, Token: token, AccountID: account, HTTPClient: hc})
		}
	}
	if o.Docker != nil {
		deps.NewDocker = func(dockerwatch.Config) (dockerwatch.Client, error) { return o.Docker, nil }
	}
	m, err := actors.StartMain(cfg, deps)
	if err != nil {
		_ = db.Close() // the start error is the one to report
		return nil, fmt.Errorf("starting main: %w", err)
	}
	return &InProcMain{Main: m, DB: db, Cfg: cfg}, nil
}

// Stop stops main and closes its store.
func (m *InProcMain) Stop() {
	m.Main.Stop()
	_ = m.DB.Close() // every write was committed; a failed close loses none
}

// StartInProcAgent starts an agent's actor tree in this process over the
// given engine, dialing main at endpoint with token.
func StartInProcAgent(endpoint, token string, engine dockerwatch.Client, log *slog.Logger) (*actors.Main, error) {
	cfg := config.Defaults()
	cfg.Mode = config.ModeAgent
	cfg.Connect.Endpoint = endpoint
	cfg.Connect.Token = config.Secret(token)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return actors.StartAgent(cfg, actors.AgentDeps{Logger: log, Version: "lgbench",
		NewDocker: func(dockerwatch.Config) (dockerwatch.Client, error) { return engine, nil }})
}

// stderrLogger logs warnings and errors of the system under test to w.
func stderrLogger(w io.Writer) *slog.Logger {
	if w == nil {
		w = os.Stderr
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
