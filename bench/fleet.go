package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/labelgate/labelgate/bridge"
)

// FleetOptions tune RunFleet.
type FleetOptions struct {
	Bin        string // the labelgate binary under test
	WorkDir    string
	Agents     int
	Containers int // per agent
	// PhaseTimeout caps each phase (cold start, restart); a phase that
	// does not converge in time is reported with its progress.
	PhaseTimeout time.Duration
	// SteadyWindow is how long main is watched idle after convergence.
	SteadyWindow time.Duration
	// RSSCap ends a phase early when main's RSS passes it, to spare the
	// machine (0: a third of MemTotal).
	RSSCap int64
	// Progress receives a line every ProgressEvery (nil: none).
	Progress      io.Writer
	ProgressEvery time.Duration
}

// FleetPhase is one convergence of the fleet: from main's process start
// (cold: empty store; restart: the store of the cold phase) until main
// holds every agent's set.
type FleetPhase struct {
	// Times since main's process started.
	APIUp        time.Duration `json:"api_up"`
	AllConnected time.Duration `json:"all_connected"`
	AllAcked     time.Duration `json:"all_acked"`
	// Registry: every hostname active in main's registry, none frozen
	// (GET /api/v1/overview), i.e. every agent's set applied.
	Registry time.Duration `json:"registry"`
	// Tunnel: the tunnel configuration in cfsim holds every route.
	Tunnel time.Duration `json:"tunnel"`
	// DNS: every proxied CNAME exists (the tail the API budget sets).
	DNS       time.Duration `json:"dns"`
	Converged bool          `json:"converged"`
	Progress  string        `json:"progress,omitempty"` // where a capped phase stood

	// AckRate is snapshots acknowledged per second over the connect wave
	// (from the first ack to the last).
	AckRate    float64 `json:"ack_rate"`
	Dials      int     `json:"dials"`
	DialErrors int     `json:"dial_errors"`
	// Calls are the Cloudflare calls of the phase; BudgetFloor the least
	// time the token bucket (3/s, burst 10) needs for them.
	Calls       Calls         `json:"calls"`
	BudgetFloor time.Duration `json:"budget_floor"`
	// LimiterWait is the sum of every call's wait for the token bucket
	// (labelgate_cloudflare_limiter_wait_seconds_sum).
	LimiterWait float64       `json:"limiter_wait"`
	PeakRSS     int64         `json:"peak_rss"`
	MainCPU     time.Duration `json:"main_cpu"`
	HarnessCPU  time.Duration `json:"harness_cpu"`
	// StopTook is how long the previous main took to stop on SIGTERM
	// (restart only).
	StopTook time.Duration `json:"stop_took,omitempty"`
	StopNote string        `json:"stop_note,omitempty"`

	SteadyRSS int64   `json:"steady_rss"`
	SteadyCPU float64 `json:"steady_cpu"` // % of one core over SteadyWindow
	// EarlyRSS is the RSS 30 s into the steady window (when it is longer).
	EarlyRSS int64 `json:"early_rss,omitempty"`
}

// FleetResult is a fleet run: a cold start and a restart of main.
type FleetResult struct {
	Agents       int           `json:"agents"`
	Containers   int           `json:"containers"`
	Hostnames    int           `json:"hostnames"`
	SteadyWindow time.Duration `json:"steady_window"`
	Cold         FleetPhase    `json:"cold"`
	Restart      FleetPhase    `json:"restart"`
	MainLog      string        `json:"-"`
}

// RunFleet runs main (the labelgate binary, configured by environment
// only, its 1 agent token per simulated agent in LABELGATE_AGENT_AGENTS)
// against cfsim in this process with its default rate limit, and a LoadGen
// of simulated agents over wss:// (main's generated certificate,
// token-bound). Every agent holds Containers tunnel routes on the default
// tunnel. Main's own Docker endpoint is a socket that does not exist: the
// fleet needs no Docker, and main settles by timeout (10 s).
func RunFleet(ctx context.Context, o FleetOptions) (FleetResult, error) {
	res := FleetResult{Agents: o.Agents, Containers: o.Containers, Hostnames: o.Agents * o.Containers, SteadyWindow: o.SteadyWindow}
	name := fmt.Sprintf("fleet-%dx%d", o.Agents, o.Containers)
	dir, err := freshDir(o.WorkDir, name)
	if err != nil {
		return res, err
	}
	sim, err := NewSim(true)
	if err != nil {
		return res, err
	}
	defer sim.Close()
	listen, err := freeAddr()
	if err != nil {
		return res, err
	}
	apiAddr, err := freeAddr()
	if err != nil {
		return res, err
	}
	tokens := map[string]string{}
	for i := range o.Agents {
		tokens[AgentName(i)] = AgentToken(i)
	}
	env, err := MainEnv(sim, dir, listen, apiAddr, tokens)
	if err != nil {
		return res, err
	}
	api := APIClient{Base: "http://" + apiAddr, HTTP: &http.Client{Timeout: 90 * time.Second}}
	res.MainLog = filepath.Join(o.WorkDir, name+"-main.log")
	_ = os.Remove(res.MainLog) // the restart appends to the cold start's
	gen := NewLoadGen(LoadGenConfig{URL: "wss://" + listen, Agents: o.Agents, Containers: o.Containers,
		Options: bridge.Options{Heartbeat: 15 * time.Second}})

	// Cold start.
	main, err := StartProc(o.Bin, env, res.MainLog)
	if err != nil {
		return res, err
	}
	defer func() {
		select {
		case <-main.Exited():
		default:
			_, _ = main.Stop(time.Minute)
		}
	}()
	gen.Start()
	defer gen.Stop()
	res.Cold, err = fleetPhase(ctx, o, main, gen, sim, api, 0, true)
	if err != nil {
		return res, err
	}

	// Restart: SIGTERM, then the same binary and store; the agents notice
	// and come back on their own backoff.
	stopTook, stopErr := main.Stop(2 * time.Minute)
	for wait := time.Now().Add(30 * time.Second); gen.Connected() > 0 && time.Now().Before(wait); {
		time.Sleep(10 * time.Millisecond) // every agent has noticed
	}
	before := len(sim.Audit())
	main, err = StartProc(o.Bin, env, res.MainLog)
	if err != nil {
		return res, err
	}
	res.Restart, err = fleetPhase(ctx, o, main, gen, sim, api, before, false)
	res.Restart.StopTook = stopTook
	if stopErr != nil {
		res.Restart.StopNote = stopErr.Error() + " (the restart then starts from what the store holds, as after a crash)"
	}
	return res, err
}

// MainEnv is the environment of a main process against sim that accepts
// the agents (name → token) on listen and serves its API on apiAddr. Its
// Docker endpoint is a socket that does not exist (the benchmarks' agents
// need none on main), so it settles by timeout (10 s); its public IP
// sources are unreachable on purpose (nothing leaves the machine).
func MainEnv(sim *Sim, dataDir, listen, apiAddr string, agents map[string]string) (map[string]string, error) {
	entries := map[string]map[string]string{}
	for name, token := range agents {
		entries[name] = map[string]string{"token": token}
	}
	agentsJSON, err := json.Marshal(entries)
	if err != nil {
		return nil, err
	}
	return map[string]string{
		"LABELGATE_MODE":                           "main",
		"LABELGATE_LOG_LEVEL":                      "warn",
		"LABELGATE_DATA_DIR":                       dataDir,
		"LABELGATE_CLOUDFLARE_API_TOKEN":           sim.Token,
		"LABELGATE_CLOUDFLARE_ACCOUNT_ID":          sim.AccountID,
		"LABELGATE_CLOUDFLARE_TUNNEL_ID":           sim.TunnelID,
		"LABELGATE_CLOUDFLARE_API_URL":             sim.URL,
		"LABELGATE_CLOUDFLARE_REQUESTS_PER_SECOND": "3",
		"LABELGATE_DOCKER_ENDPOINT":                "unix:///nonexistent/lgbench-no-docker.sock",
		"LABELGATE_SYNC_SETTLE_TIMEOUT":            "10s",
		"LABELGATE_SYNC_PUBLIC_IP_SOURCES":         "http://127.0.0.1:1/",
		"LABELGATE_API_ADDRESS":                    apiAddr,
		"LABELGATE_AGENT_ENABLED":                  "true",
		"LABELGATE_AGENT_LISTEN":                   listen,
		"LABELGATE_AGENT_AGENTS":                   string(agentsJSON),
		"LABELGATE_AGENT_HEARTBEAT_INTERVAL":       "15s",
	}, nil
}

// fleetPhase watches one convergence and then the steady state after it.
func fleetPhase(ctx context.Context, o FleetOptions, main *Proc, gen *LoadGen, sim *Sim, api APIClient, auditFrom int, cold bool) (FleetPhase, error) {
	var ph FleetPhase
	n := o.Agents * o.Containers
	t0 := main.Started
	sampler := StartSampler(main.Pid, time.Second)
	defer sampler.Stop()
	self0, _ := ReadProc(os.Getpid())
	main0, _ := ReadProc(main.Pid)
	dials0, errs0 := gen.Connects(), gen.DialErrors()

	since := func() time.Duration { return time.Since(t0) }
	rssCap := o.RSSCap
	if rssCap <= 0 {
		rssCap = meminfo("MemTotal") / 3
	}
	deadline := t0.Add(o.PhaseTimeout)
	nextProgress := time.Now()
	type answer struct {
		ov  Overview
		err error
		at  time.Time
	}
	var ov Overview
	var ovErr error
	answers := make(chan answer, 1)
	inflight := false
	var askedAt time.Time
	for {
		if err := ctx.Err(); err != nil {
			return ph, err
		}
		select {
		case <-main.Exited():
			return ph, fmt.Errorf("main exited during the fleet run; its log ends with:\n%s", main.Tail(20))
		default:
		}
		if ph.APIUp == 0 && api.Healthy(ctx) {
			ph.APIUp = since()
		}
		if ph.AllConnected == 0 && gen.Connected() == o.Agents {
			if up, ok := gen.UpSince(); ok {
				ph.AllConnected = up.Sub(t0)
			}
		}
		if acked, last := gen.AckedAll(); ph.AllAcked == 0 && acked == o.Agents {
			ph.AllAcked = last.Sub(t0)
		}
		// One overview request at a time, in the background: under a
		// backlog the registry answers late, and the answer time counts.
		select {
		case a := <-answers:
			inflight = false
			ov, ovErr = a.ov, a.err
			if a.err == nil && ph.Registry == 0 && a.ov.Hostnames["active"] == n && a.ov.Hostnames["frozen"] == 0 {
				ph.Registry = a.at.Sub(t0)
			}
		default:
		}
		if !inflight && ph.APIUp != 0 && ph.Registry == 0 && time.Since(askedAt) > time.Second {
			inflight, askedAt = true, time.Now()
			go func() {
				c, cancel := context.WithTimeout(ctx, 80*time.Second)
				v, err := api.Overview(c)
				cancel()
				answers <- answer{v, err, time.Now()}
			}()
		}
		rules, records := sim.RuleCount(), sim.RecordCount()
		if ph.Tunnel == 0 && rules >= n {
			ph.Tunnel = since()
		}
		if ph.DNS == 0 && records >= n {
			ph.DNS = since()
		}
		done := ph.AllAcked != 0 && ph.Registry != 0 && ph.Tunnel != 0 && ph.DNS != 0
		if o.Progress != nil && (done || time.Now().After(nextProgress)) {
			nextProgress = time.Now().Add(o.ProgressEvery)
			rss, _ := sampler.Last()
			acked, _ := gen.AckedAll()
			fmt.Fprintf(o.Progress, "  fleet %s +%s: connected %d/%d, acked %d, registry active %d frozen %d (overview err %v), rules %d, records %d, main RSS %s\n",
				phaseName(cold), since().Round(time.Second), gen.Connected(), o.Agents, acked, ov.Hostnames["active"], ov.Hostnames["frozen"], oneLine(ovErr), rules, records, MB(rss.RSS))
		}
		if done {
			ph.Converged = true
			break
		}
		rssNow, _ := sampler.Last()
		if over := rssNow.RSS > rssCap; over || time.Now().After(deadline) {
			acked, _ := gen.AckedAll()
			why := fmt.Sprintf("stopped after %v (the phase's cap)", o.PhaseTimeout)
			if over {
				why = fmt.Sprintf("stopped after %v: main's RSS passed the %s cap", since().Round(time.Second), MB(rssCap))
			}
			ph.Progress = fmt.Sprintf("%s: %d/%d agents connected, %d acked; registry %d active, %d frozen (of %d, last answer); %d rules, %d records in cfsim",
				why, gen.Connected(), o.Agents, acked, ov.Hostnames["active"], ov.Hostnames["frozen"], n, rules, records)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if inflight {
		<-answers // no overview in flight from here on
	}
	ph.PeakRSS = sampler.Peak()
	self1, _ := ReadProc(os.Getpid())
	main1, _ := ReadProc(main.Pid)
	ph.MainCPU, ph.HarnessCPU = main1.CPU-main0.CPU, self1.CPU-self0.CPU
	ph.Dials, ph.DialErrors = gen.Connects()-dials0, gen.DialErrors()-errs0
	if acked, first, last := gen.Acks(); acked > 1 {
		if d := last.Sub(first).Seconds(); d > 0 {
			ph.AckRate = float64(acked-1) / d
		}
	}
	ph.Calls = CountCalls(sim.Audit()[auditFrom:])
	ph.BudgetFloor = time.Duration(float64(max(ph.Calls.Total-10, 0)) / 3 * float64(time.Second))
	c, cancel := context.WithTimeout(ctx, 80*time.Second)
	ph.LimiterWait, _ = api.Metric(c, "labelgate_cloudflare_limiter_wait_seconds_sum")
	cancel()

	// Steady state: nothing changes; heartbeats and timers only.
	if !ph.Converged {
		return ph, nil
	}
	a, err := ReadProc(main.Pid)
	if err != nil {
		return ph, err
	}
	// RSS shortly after convergence too: the heap of the busy phase is
	// still mapped then (the Go runtime forces a GC every 2 minutes of
	// quiet, and its scavenger returns the freed pages after that).
	rest := o.SteadyWindow
	if early := 30 * time.Second; rest > early {
		if err := sleepCtx(ctx, early); err != nil {
			return ph, err
		}
		e, err := ReadProc(main.Pid)
		if err != nil {
			return ph, err
		}
		ph.EarlyRSS, rest = e.RSS, rest-early
	}
	if err := sleepCtx(ctx, rest); err != nil {
		return ph, err
	}
	b, err := ReadProc(main.Pid)
	if err != nil {
		return ph, err
	}
	ph.SteadyRSS, ph.SteadyCPU = b.RSS, CPUPercent(a, b)
	ph.PeakRSS = max(ph.PeakRSS, sampler.Peak())
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "  fleet %s steady: RSS %s, CPU %.1f%% over %v, peak RSS %s\n", phaseName(cold), MB(ph.SteadyRSS), ph.SteadyCPU, o.SteadyWindow, MB(ph.PeakRSS))
	}
	return ph, nil
}

// oneLine is an error's text on one line ("<nil>" for none).
func oneLine(err error) string {
	if err == nil {
		return "<nil>"
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

func phaseName(cold bool) string {
	if cold {
		return "cold"
	}
	return "restart"
}

// itoa is strconv.Itoa, for table cells.
func itoa(n int) string { return strconv.Itoa(n) }
