package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/labelgate/labelgate/bridge"
	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/dockerwatch/dockertest"
	"github.com/labelgate/labelgate/surface"
)

// ProfileOptions tune ProfileFleet.
type ProfileOptions struct {
	WorkDir    string
	Agents     int
	Containers int
	// Window is how long the CPU profile runs from the first dial; the
	// heap profile is written at its end.
	Window   time.Duration
	Progress io.Writer
}

// FleetProfile is where a profiled fleet run stood and what it wrote.
type FleetProfile struct {
	Agents, Containers int
	Window             time.Duration
	// Took is how long the CPU profile actually ran.
	Took time.Duration
	// Applied is how many hostnames main's registry held as active at the
	// end of the window, of Agents × Containers.
	Applied int
	// Rules is how many routes the tunnel configuration in cfsim held at
	// the end (the registry may be too busy to answer the overview).
	Rules     int
	CPUFile   string
	HeapFile  string
	CPUTop    string // `go tool pprof -top` of the CPU profile
	HeapTop   string // of the in-use heap
	HeapInUse uint64 // runtime.MemStats.HeapInuse at the end
	// CPUShares and HeapShares are the cumulative shares (%) of the
	// profile's samples under the functions of FleetHotspots.
	CPUShares  map[string]float64
	HeapShares map[string]float64
}

// FleetHotspots are the functions whose cumulative share of the fleet
// profiles the document quotes, by a short name.
var FleetHotspots = map[string]string{
	"registry actor":        "actors.(*registryActor).Receive",
	"registry decideAll":    "actors.(*registryState).decideAll",
	"registry flush":        "actors.(*registryActor).flush",
	"registry persistHost":  "actors.(*registryState).persistHost",
	"store worker":          "actors.(*storeActor).worker",
	"store PutHostname":     "store.(*Store).PutHostname",
	"DNS list (cloudflare)": "cfapi.(*Client).ListRecords",
	"cloudflare calls":      "actors.(*cloudflareActor).start.func1",
	"tunnel plan.Tunnel":    "plan.Tunnel",
	"garbage collector":     "runtime.gcBgMarkWorker",
	"cfsim (harness)":       "cfsim.(*Server).ServeHTTP",
	"load generator":        "bench.(*LoadGen).run",
}

// Shares reads the cumulative share of each hotspot from a profile.
func Shares(file string, hotspots map[string]string, extra ...string) map[string]float64 {
	args := append([]string{"tool", "pprof", "-top", "-cum", "-nodecount=100000"}, extra...)
	out, err := exec.Command("go", append(args, file)...).Output()
	if err != nil {
		return nil
	}
	shares := map[string]float64{}
	for line := range strings.Lines(string(out)) {
		fs := strings.Fields(line)
		if len(fs) < 6 {
			continue
		}
		fn := strings.Join(fs[5:], " ")
		for name, want := range hotspots {
			if _, done := shares[name]; done || !strings.HasSuffix(fn, want) {
				continue
			}
			if v, err := strconv.ParseFloat(strings.TrimSuffix(fs[4], "%"), 64); err == nil {
				shares[name] = v
			}
		}
	}
	return shares
}

// ProfileFleet is RunFleet's cold start with main's actor tree in this
// process, so runtime/pprof sees it (the labelgate binary serves no
// pprof): a CPU profile over Window from the first dial, and a heap
// profile at its end. The load generator shares the process; its frames
// are bench.* and bridge.* under it and are easy to tell apart.
func ProfileFleet(ctx context.Context, o ProfileOptions) (FleetProfile, error) {
	res := FleetProfile{Agents: o.Agents, Containers: o.Containers, Window: o.Window}
	sim, err := NewSim(true)
	if err != nil {
		return res, err
	}
	defer sim.Close()
	listen, err := freeAddr()
	if err != nil {
		return res, err
	}
	agents := map[string]config.AgentEntry{}
	for i := range o.Agents {
		agents[AgentName(i)] = config.AgentEntry{Token: config.Secret(AgentToken(i))}
	}
	dir, err := freshDir(o.WorkDir, "profile")
	if err != nil {
		return res, err
	}
	m, err := StartInProcMain(ctx, MainOptions{Sim: sim, Docker: dockertest.New(), DataDir: dir,
		Tweak: func(c *config.Config) {
			c.Agent.Enabled, c.Agent.Listen, c.Agent.Agents = true, listen, agents
			c.Sync.SettleTimeout = 10 * time.Second
		}})
	if err != nil {
		return res, err
	}
	defer m.Stop()
	res.CPUFile = filepath.Join(o.WorkDir, fmt.Sprintf("fleet-%dx%d.cpu.pprof", o.Agents, o.Containers))
	res.HeapFile = filepath.Join(o.WorkDir, fmt.Sprintf("fleet-%dx%d.heap.pprof", o.Agents, o.Containers))
	cpu, err := os.Create(res.CPUFile)
	if err != nil {
		return res, err
	}
	defer func() { _ = cpu.Close() }() // for the early returns; the profile's end closes it and checks
	if err := pprof.StartCPUProfile(cpu); err != nil {
		return res, err
	}
	gen := NewLoadGen(LoadGenConfig{URL: "wss://" + listen, Agents: o.Agents, Containers: o.Containers,
		Options: bridge.Options{Heartbeat: 15 * time.Second}})
	gen.Start()
	defer gen.Stop()
	n := o.Agents * o.Containers
	backend := surface.New(m.Main, m.Cfg, "lgbench")
	began := time.Now()
	end := began.Add(o.Window)
	for time.Now().Before(end) && res.Applied < n {
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		if ov, err := backend.Overview(c); err == nil {
			res.Applied = ov.Hostnames["active"]
		}
		cancel()
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "  profile: %d/%d hostnames active, %d rules in cfsim\n", res.Applied, n, sim.RuleCount())
		}
		if err := sleepCtx(ctx, 5*time.Second); err != nil {
			return res, err
		}
	}
	pprof.StopCPUProfile()
	if err := cpu.Close(); err != nil {
		return res, err
	}
	res.Took = time.Since(began)
	res.Rules = sim.RuleCount()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.HeapInUse = ms.HeapInuse
	if err := writeHeapProfile(res.HeapFile); err != nil {
		return res, err
	}
	res.CPUTop = PprofTop(res.CPUFile, 25, "-cum")
	res.HeapTop = PprofTop(res.HeapFile, 20, "-sample_index=inuse_space")
	res.CPUShares = Shares(res.CPUFile, FleetHotspots)
	res.HeapShares = Shares(res.HeapFile, FleetHotspots, "-sample_index=inuse_space")
	return res, nil
}

// PprofTop runs `go tool pprof -top` on a profile; the error text on
// failure.
func PprofTop(file string, nodes int, extra ...string) string {
	args := append([]string{"tool", "pprof", "-top", fmt.Sprintf("-nodecount=%d", nodes)}, extra...)
	args = append(args, file)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("go tool pprof: %v\n%s", err, out)
	}
	// Keep the table only.
	s := string(out)
	if i := strings.Index(s, "      flat"); i >= 0 {
		s = s[i:]
	}
	return strings.TrimRight(s, "\n")
}
