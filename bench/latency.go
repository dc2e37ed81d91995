package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/dockerwatch/dockertest"
)

// LatencyResult is the time from a container's start to its ingress rule
// being in cfsim, over Samples containers started one after another.
type LatencyResult struct {
	Path     string        `json:"path"`
	Engine   string        `json:"engine"`
	Debounce time.Duration `json:"debounce"`
	Latency  Durations     `json:"latency"`
	// ToGet is the part of the latency before the tunnel actor's GET of
	// the configuration (from cfsim's audit log): the debounce windows;
	// the rest is the GET, the PUT and the poll.
	ToGet Durations `json:"to_get"`
	// StartCall is how long the engine's start call took (real engine
	// only; latency is measured from its return).
	StartCall Durations `json:"start_call,omitzero"`
	Note      string    `json:"note,omitempty"`
}

// LatencyOptions tune RunLatency.
type LatencyOptions struct {
	Samples int
	// Gap separates samples so the scenario stays inside the API budget
	// (each sample costs about four calls: tunnel GET + PUT, DNS list +
	// batch) and measures latency, not the token bucket.
	Gap     time.Duration
	WorkDir string
	// Docker, when set, adds the real-engine local path.
	Docker *DockerEnv
	// DiagDebounce, when set, adds a diagnostic run of the local fake path
	// with docker.debounce at this value (DiagSamples samples): how the
	// latency scales with the setting.
	DiagDebounce time.Duration
	DiagSamples  int
	Logger       *slog.Logger
}

// pollEvery is the resolution of the "rule present" check.
const pollEvery = 2 * time.Millisecond

// RunLatency measures, with the default docker.debounce (500 ms) on main
// and on the agent: a local container on the fake engine, a container
// behind an in-process agent connected over loopback (wss://, main's
// generated certificate, token-bound), and with Docker set a local
// container on the real engine (`labelgate hello` from ImageTag).
func RunLatency(ctx context.Context, o LatencyOptions) ([]LatencyResult, error) {
	sim, err := NewSim(true)
	if err != nil {
		return nil, err
	}
	defer sim.Close()
	listen, err := freeAddr()
	if err != nil {
		return nil, err
	}
	local := dockertest.New()
	const token = "lgbench-latency-agent-token-0123"
	dir := filepath.Join(o.WorkDir, "latency")
	m, err := StartInProcMain(ctx, MainOptions{Sim: sim, Docker: local, DataDir: dir, Logger: o.Logger,
		Tweak: func(c *config.Config) {
			c.Agent.Enabled, c.Agent.Listen = true, listen
			c.Agent.Agents = map[string]config.AgentEntry{"edge": {Token: config.Secret(token)}}
		}})
	if err != nil {
		return nil, err
	}
	defer m.Stop()
	remote := dockertest.New()
	agent, err := StartInProcAgent("wss://"+listen, token, remote, o.Logger)
	if err != nil {
		return nil, err
	}
	defer agent.Stop()

	debounce := m.Cfg.Docker.Debounce
	var out []LatencyResult
	measure := func(sim *Sim, debounce time.Duration, samples int, path, engine string, start func(name string, labels map[string]string) (time.Time, time.Duration, error)) error {
		res := LatencyResult{Path: path, Engine: engine, Debounce: debounce}
		var lat, calls, toGet []time.Duration
		for i := -1; i < samples; i++ { // sample -1 warms up
			name := fmt.Sprintf("%s%03d", engine, i+1)
			host := fmt.Sprintf("lat-%s-%s.%s", shortPath(path), name, Zone)
			t0, call, err := start(name, map[string]string{
				"labelgate.tunnel.web.hostname": host,
				"labelgate.tunnel.web.service":  "http://" + name + ":8080",
			})
			if err != nil {
				return err
			}
			d, err := waitRule(ctx, sim, host, t0, time.Minute)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if i >= 0 {
				lat, calls = append(lat, d), append(calls, call)
				if g, ok := firstTunnelGet(sim, t0); ok {
					toGet = append(toGet, g)
				}
			}
			if err := sleepCtx(ctx, o.Gap); err != nil {
				return err
			}
		}
		res.Latency, res.ToGet = Summarise(lat), Summarise(toGet)
		if engine == "real" {
			res.StartCall = Summarise(calls)
		}
		out = append(out, res)
		return nil
	}
	fake := func(e *dockertest.Engine) func(string, map[string]string) (time.Time, time.Duration, error) {
		return func(name string, labels map[string]string) (time.Time, time.Duration, error) {
			t0 := time.Now()
			e.Start(name, labels)
			return t0, 0, nil
		}
	}
	if err := measure(sim, debounce, o.Samples, "local", "fake", fake(local)); err != nil {
		return out, err
	}
	if err := measure(sim, debounce, o.Samples, "agent", "fake", fake(remote)); err != nil {
		return out, err
	}
	if o.DiagDebounce > 0 {
		diagSim, err := NewSim(true)
		if err != nil {
			return out, err
		}
		defer diagSim.Close()
		diagEngine := dockertest.New()
		diag, err := StartInProcMain(ctx, MainOptions{Sim: diagSim, Docker: diagEngine, DataDir: filepath.Join(o.WorkDir, "latency-diag"), Logger: o.Logger,
			Tweak: func(c *config.Config) { c.Docker.Debounce = o.DiagDebounce }})
		if err != nil {
			return out, err
		}
		defer diag.Stop()
		if err := measure(diagSim, o.DiagDebounce, o.DiagSamples, "local (diagnosis)", "fake", fake(diagEngine)); err != nil {
			return out, err
		}
	}
	if o.Docker == nil {
		return out, nil
	}

	// Local on the real engine: a second main watching only this run's
	// containers through the Docker API.
	sim2, err := NewSim(true)
	if err != nil {
		return out, err
	}
	defer sim2.Close()
	real, err := StartInProcMain(ctx, MainOptions{Sim: sim2, DataDir: filepath.Join(o.WorkDir, "latency-real"), Logger: o.Logger,
		Tweak: func(c *config.Config) {
			c.Docker.Endpoint = DockerEndpoint
			c.Docker.FilterLabel = o.Docker.Filter()
		}})
	if err != nil {
		return out, err
	}
	defer real.Stop()
	defer o.Docker.RemoveAll()
	err = measure(sim2, debounce, o.Samples, "local", "real", func(name string, labels map[string]string) (time.Time, time.Duration, error) {
		id, err := o.Docker.CreateHello(ctx, "lat-"+name, labels)
		if err != nil {
			return time.Time{}, 0, err
		}
		called := time.Now()
		if err := o.Docker.Start(ctx, id); err != nil {
			return time.Time{}, 0, err
		}
		t0 := time.Now()
		return t0, t0.Sub(called), nil
	})
	return out, err
}

func shortPath(p string) string {
	switch p {
	case "agent":
		return "a"
	case "local":
		return "l"
	}
	return "d"
}

// waitRule polls cfsim until host has an ingress rule and returns the time
// since t0.
func waitRule(ctx context.Context, sim *Sim, host string, t0 time.Time, within time.Duration) (time.Duration, error) {
	deadline := t0.Add(within)
	for {
		if _, ok := sim.Rules()[host]; ok {
			return time.Since(t0), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no ingress rule for %s after %v", host, within)
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		time.Sleep(pollEvery)
	}
}

// firstTunnelGet is the time from t0 to the first tunnel configuration GET
// at or after it.
func firstTunnelGet(sim *Sim, t0 time.Time) (time.Duration, bool) {
	for _, e := range sim.Audit() {
		if e.Method == "GET" && strings.HasSuffix(e.Path, "/configurations") && !e.Time.Before(t0) {
			return e.Time.Sub(t0), true
		}
	}
	return 0, false
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// freshDir empties (or creates) a scenario's directory under parent: a
// cold start must not find the database of an earlier run.
func freshDir(parent, name string) (string, error) {
	dir := filepath.Join(parent, name)
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("emptying %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	return dir, nil
}
