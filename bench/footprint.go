package bench

import (
	"context"
	"errors"
	"fmt"
	"github.com/labelgate/labelgate/messages"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/labelgate/labelgate/actors"
	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/dockerwatch"
)

// FootprintOptions tune RunFootprint.
type FootprintOptions struct {
	Bin        string // the labelgate binary under test
	Docker     *DockerEnv
	Containers int
	WorkDir    string
	// Warmup passes between the agent's set reaching main and the
	// measurement; Window is the measured idle period.
	Warmup, Window time.Duration
	// ProfileCmd, when set, runs the agent heap profile in a fresh process:
	// the command and its first arguments (lgbench agent-heap-profile).
	ProfileCmd []string
	Logger     *slog.Logger
}

// FootprintResult is an idle agent process's resource use.
type FootprintResult struct {
	Containers int           `json:"containers"`
	Engine     string        `json:"engine"`
	Window     time.Duration `json:"window"`
	RSS        int64         `json:"rss"`      // at the end of the window
	RSSAnon    int64         `json:"rss_anon"` // of which anonymous (heap, stacks, runtime)
	RSSFile    int64         `json:"rss_file"` // of which file-backed (the binary)
	PeakRSS    int64         `json:"peak_rss"` // over start-up and window
	CPU        float64       `json:"cpu"`      // % of one core over the window
	StartCPU   time.Duration `json:"start_cpu"`
	// Ready is the time from the agent's start to its set being applied
	// (every route in cfsim).
	Ready time.Duration `json:"ready"`
	// Hello is one of the watched `labelgate hello` containers: the same
	// binary serving HTTP and nothing else, a floor for any process of it.
	Hello ProcSample `json:"hello"`
	// GCTrace is the agent's last GC trace line (GODEBUG=gctrace=1): heap
	// before → after → live, and the next goal.
	GCTrace string `json:"gc_trace,omitempty"`
	// HeapTop is `go tool pprof -top` of the in-use heap of the same agent
	// tree run alone in a fresh harness process (actors.StartAgent on the
	// same engine and containers), HeapInUse its
	// runtime.MemStats.HeapInuse after a GC.
	HeapTop   string `json:"heap_top,omitempty"`
	HeapInUse uint64 `json:"heap_in_use,omitempty"`
}

// ProfileAgentHeap runs the agent's actor tree in this process against the
// real engine (filter selects the containers) until main acknowledged its
// set, then writes a heap profile to file after a GC and returns
// runtime.MemStats.HeapInuse. lgbench runs it in a fresh process of its
// own (`lgbench agent-heap-profile`), so the heap holds the agent alone.
func ProfileAgentHeap(ctx context.Context, endpoint, token, filter, file string) (uint64, error) {
	dc, err := dockerwatch.NewClient(dockerwatch.Config{Endpoint: DockerEndpoint})
	if err != nil {
		return 0, err
	}
	defer func() { _ = dc.Close() }() // it closes idle connections; nothing is lost
	cfg := config.Defaults()
	cfg.Mode = config.ModeAgent
	cfg.Connect.Endpoint, cfg.Connect.Token = endpoint, config.Secret(token)
	cfg.Docker.Endpoint, cfg.Docker.FilterLabel = DockerEndpoint, filter
	agent, err := actors.StartAgent(cfg, actors.AgentDeps{Version: "lgbench",
		NewDocker: func(dockerwatch.Config) (dockerwatch.Client, error) { return dc, nil }})
	if err != nil {
		return 0, err
	}
	defer agent.Stop()
	deadline := time.Now().Add(time.Minute)
	for {
		res, err := agent.System.Root.RequestFuture(agent.Children[actors.ChildLink], messages.QueryLink{}, 5*time.Second).Result()
		if st, ok := res.(messages.LinkStatus); err == nil && ok && st.Connected && st.Sent > 0 && st.Acked == st.Sent {
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the in-process agent's set was not acknowledged within a minute")
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return 0, err
		}
	}
	if err := sleepCtx(ctx, 5*time.Second); err != nil {
		return 0, err
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if err := writeHeapProfile(file); err != nil {
		return 0, err
	}
	return ms.HeapInuse, nil
}

// writeHeapProfile writes the heap profile to file; a failed close fails it
// too, since the file is read back for the report.
func writeHeapProfile(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		_ = f.Close() // the WriteTo error is the one to report
		return err
	}
	return f.Close()
}

// RunFootprint runs an agent process (the labelgate binary, mode agent,
// environment configuration) against the real Docker engine, watching
// Containers labelled `labelgate hello` containers of ImageTag (only this
// run's: docker.filter_label), connected to an in-process main over
// wss:// on loopback. It measures the agent once main holds its set:
// VmRSS, and utime+stime over Window.
func RunFootprint(ctx context.Context, o FootprintOptions) (FootprintResult, error) {
	res := FootprintResult{Containers: o.Containers, Engine: "real Docker engine", Window: o.Window}
	defer o.Docker.RemoveAll()
	var first string
	for i := range o.Containers {
		name := fmt.Sprintf("fp%03d", i)
		id, err := o.Docker.CreateHello(ctx, name, map[string]string{
			"labelgate.tunnel.web.hostname": name + "-" + o.Docker.Run + "." + Zone,
			"labelgate.tunnel.web.service":  "http://" + name + ":8080",
		})
		if err != nil {
			return res, err
		}
		if err := o.Docker.Start(ctx, id); err != nil {
			return res, err
		}
		if first == "" {
			first = id
		}
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
	health, err := freeAddr()
	if err != nil {
		return res, err
	}
	// Main is a process too, so that the heap profile of the in-process
	// agent below holds the agent alone.
	const token, profiledToken = "lgbench-footprint-agent-token-01", "lgbench-footprint-agent-token-02"
	dir, err := freshDir(o.WorkDir, "footprint")
	if err != nil {
		return res, err
	}
	for _, log := range []string{"footprint-main.log", "footprint-agent.log"} {
		_ = os.Remove(filepath.Join(o.WorkDir, log))
	}
	env, err := MainEnv(sim, dir, listen, apiAddr, map[string]string{"footprint": token, "profiled": profiledToken})
	if err != nil {
		return res, err
	}
	main, err := StartProc(o.Bin, env, filepath.Join(o.WorkDir, "footprint-main.log"))
	if err != nil {
		return res, err
	}
	defer func() { _, _ = main.Stop(30 * time.Second) }()
	agent, err := StartProc(o.Bin, map[string]string{
		"LABELGATE_MODE":                  "agent",
		"LABELGATE_LOG_LEVEL":             "warn",
		"LABELGATE_CONNECT_ENDPOINT":      "wss://" + listen,
		"LABELGATE_CONNECT_TOKEN":         token,
		"LABELGATE_CONNECT_HEALTH_LISTEN": health,
		"LABELGATE_DOCKER_ENDPOINT":       DockerEndpoint,
		"LABELGATE_DOCKER_FILTER_LABEL":   o.Docker.Filter(),
		// The runtime's GC trace (stderr) shows the live heap; it writes a
		// line per collection and changes nothing else.
		"GODEBUG": "gctrace=1",
	}, filepath.Join(o.WorkDir, "footprint-agent.log"))
	if err != nil {
		return res, err
	}
	defer func() { _, _ = agent.Stop(30 * time.Second) }()
	sampler := StartSampler(agent.Pid, 500*time.Millisecond)
	defer sampler.Stop()
	deadline := agent.Started.Add(2 * time.Minute)
	for sim.RuleCount() < o.Containers {
		select {
		case <-agent.Exited():
			return res, fmt.Errorf("the agent exited; its log ends with:\n%s", agent.Tail(20))
		default:
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("the agent's %d routes did not reach main within 2 minutes (%d did); its log ends with:\n%s", o.Containers, sim.RuleCount(), agent.Tail(20))
		}
		time.Sleep(10 * time.Millisecond)
	}
	res.Ready = time.Since(agent.Started)
	if err := sleepCtx(ctx, o.Warmup); err != nil {
		return res, err
	}
	a, err := ReadProc(agent.Pid)
	if err != nil {
		return res, err
	}
	res.StartCPU = a.CPU
	if err := sleepCtx(ctx, o.Window); err != nil {
		return res, err
	}
	b, err := ReadProc(agent.Pid)
	if err != nil {
		return res, err
	}
	res.RSS, res.RSSAnon, res.RSSFile, res.CPU, res.PeakRSS = b.RSS, b.RSSAnon, b.RSSFile, CPUPercent(a, b), sampler.Peak()
	res.GCTrace = lastGCTrace(agent.Tail(200))
	if first != "" {
		if pid, err := o.Docker.Pid(ctx, first); err == nil {
			res.Hello, _ = ReadProc(pid)
		}
	}
	if _, err := agent.Stop(30 * time.Second); err != nil {
		return res, err
	}
	heapFile := filepath.Join(o.WorkDir, "agent.heap.pprof")
	if len(o.ProfileCmd) == 0 {
		res.HeapInUse, err = ProfileAgentHeap(ctx, "wss://"+listen, profiledToken, o.Docker.Filter(), heapFile)
	} else {
		res.HeapInUse, err = runHeapProfiler(ctx, o.ProfileCmd, "wss://"+listen, profiledToken, o.Docker.Filter(), heapFile)
	}
	if err != nil {
		return res, err
	}
	res.HeapTop = PprofTop(heapFile, 12, "-sample_index=inuse_space")
	return res, nil
}

// runHeapProfiler runs ProfileAgentHeap in a fresh process (cmd plus
// -endpoint, -token, -filter, -out) that prints HeapInuse on stdout.
func runHeapProfiler(ctx context.Context, cmd []string, endpoint, token, filter, file string) (uint64, error) {
	args := append(append([]string{}, cmd[1:]...), "-endpoint", endpoint, "-token", token, "-filter", filter, "-out", file)
	out, err := exec.CommandContext(ctx, cmd[0], args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return 0, fmt.Errorf("the agent heap profiler failed: %w\n%s", err, ee.Stderr)
		}
		return 0, fmt.Errorf("running the agent heap profiler: %w", err)
	}
	return strconv.ParseUint(strings.TrimSpace(string(out)), 10, 64)
}

// lastGCTrace picks the last "gc N @…" line of a log.
func lastGCTrace(log string) string {
	last := ""
	for line := range strings.Lines(log) {
		if strings.HasPrefix(line, "gc ") {
			last = strings.TrimSpace(line)
		}
	}
	return last
}
