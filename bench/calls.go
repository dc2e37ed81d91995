package bench

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/dockerwatch/dockertest"
)

// CallsCase is one cold start: Hostnames containers with one tunnel route
// each (so one proxied CNAME each), and with DNS one A record each too.
type CallsCase struct {
	Hostnames int  `json:"hostnames"`
	DNS       bool `json:"dns"`
}

func (c CallsCase) String() string {
	if c.DNS {
		return fmt.Sprintf("%d tunnel hostnames + %d DNS records", c.Hostnames, c.Hostnames)
	}
	return fmt.Sprintf("%d tunnel hostnames", c.Hostnames)
}

// Records is the number of DNS records the case converges to.
func (c CallsCase) Records() int {
	if c.DNS {
		return 2 * c.Hostnames
	}
	return c.Hostnames
}

// LowerBound is the fewest API calls any client needs to converge the case
// from cold with cloudflare-go's endpoints: the zone list (one page of 50),
// the tunnel configuration GET and PUT, one DNS record list (one page of
// up to 5,000: the zone is empty) and ⌈records/200⌉ batch calls (Free plan
// batch cap). Labelgate's two Access list calls are not part of it.
func (c CallsCase) LowerBound() int {
	return 1 + 2 + 1 + (c.Records()+199)/200
}

// CallsResult is what a cold start and the steady state after it cost.
type CallsResult struct {
	Case       CallsCase `json:"case"`
	Cold       Calls     `json:"cold"`
	LowerBound int       `json:"lower_bound"`
	// Converged is the simulated time from main's start to the last rule
	// and record being in cfsim.
	Converged time.Duration `json:"converged"`
	// Steady counts the calls of a window with nothing changed, in which
	// the drift reconcile (sync.interval) runs DriftRounds times.
	Steady       Calls         `json:"steady"`
	SteadyWindow time.Duration `json:"steady_window"`
	SyncInterval time.Duration `json:"sync_interval"`
	DriftRounds  int           `json:"drift_rounds"`
}

// Ratio is the cold-start calls over the lower bound.
func (r CallsResult) Ratio() float64 { return float64(r.Cold.Total) / float64(r.LowerBound) }

// CallsOptions tune RunCalls.
type CallsOptions struct {
	DataDir      string
	SteadyWindow time.Duration // 10 minutes in the documented run
	SyncInterval time.Duration // 2 minutes: five drift rounds in the window
	Logger       *slog.Logger
}

// RunCalls converges a case from cold (empty store, empty zone, containers
// already running when main starts) and then watches a steady state with
// nothing changed. Every wait is a sleep on the clock, so inside a
// testing/synctest bubble (simtime_test.go) the ten simulated minutes cost a
// fraction of a second; cfsim is in memory (no sockets leave the bubble)
// and is reached through the real SDK. Outside a bubble it takes the real
// SteadyWindow.
func RunCalls(ctx context.Context, c CallsCase, o CallsOptions) (CallsResult, error) {
	res := CallsResult{Case: c, LowerBound: c.LowerBound(), SteadyWindow: o.SteadyWindow, SyncInterval: o.SyncInterval}
	sim, err := NewSim(false)
	if err != nil {
		return res, err
	}
	defer sim.Close()
	engine := dockertest.New()
	for i := range c.Hostnames {
		name := fmt.Sprintf("svc%04d", i)
		l := map[string]string{
			"labelgate.tunnel.web.hostname": name + "." + Zone,
			"labelgate.tunnel.web.service":  "http://" + name + ":8080",
		}
		if c.DNS {
			l["labelgate.dns.a.hostname"] = name + "-direct." + Zone
			l["labelgate.dns.a.target"] = fmt.Sprintf("203.0.%d.%d", 113+i/250, 1+i%250)
			l["labelgate.dns.a.proxied"] = "false"
		}
		engine.Start(name, l)
	}
	start := time.Now()
	m, err := StartInProcMain(ctx, MainOptions{Sim: sim, Docker: engine, DataDir: o.DataDir, Logger: o.Logger,
		Tweak: func(cfg *config.Config) { cfg.Sync.Interval = o.SyncInterval }})
	if err != nil {
		return res, err
	}
	defer m.Stop()

	deadline := start.Add(time.Hour)
	for sim.RuleCount() < c.Hostnames || sim.RecordCount() < c.Records() {
		if time.Now().After(deadline) {
			return res, fmt.Errorf("%s: not converged after an hour (rules %d, records %d)", c, sim.RuleCount(), sim.RecordCount())
		}
		time.Sleep(time.Millisecond)
	}
	res.Converged = time.Since(start)
	// Calls still in flight or debounced belong to the cold start: wait for
	// ten quiet seconds (well before the first drift round).
	for n := -1; n != len(sim.Audit()); {
		n = len(sim.Audit())
		time.Sleep(10 * time.Second)
	}
	cold := sim.Audit()
	res.Cold = CountCalls(cold)

	time.Sleep(o.SteadyWindow)
	res.Steady = CountCalls(sim.Audit()[len(cold):])
	res.DriftRounds = res.Steady.ByEndpoint["GET /accounts/{id}/cfd_tunnel/{id}/configurations"]
	return res, nil
}
