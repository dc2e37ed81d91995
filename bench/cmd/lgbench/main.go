// Command lgbench runs Labelgate's benchmarks (issue 8) and writes their
// figures into docs/benchmarks.md: `make bench` (the documented sizes) or
// `make bench-smoke` (tiny sizes, seconds to a minute, for CI; it fails
// only on functional errors, never on a timing).
//
//	lgbench [-smoke] [-bin bin/labelgate] [-doc docs/benchmarks.md] [-out bin/bench] [-only calls,latency,...]
//
// Scenarios: calls, budget, latency, footprint, micro, fleet, profile,
// hostile (see package bench); `make bench-hostile` runs only the last. The simulated-time ones (calls, the Access budget) run
// as `go test ./bench` with -lgbench.out; the fleet and the footprint run
// the labelgate binary as a separate process. Figures also go to
// OUT/results.json; profiles and process logs stay in OUT.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/labelgate/labelgate/bench"
	"github.com/labelgate/labelgate/deploy/imagebuild"
)

const intro = `# Benchmarks

How Labelgate performs against its claims: fewer Cloudflare calls, fast convergence, no lockouts, a main that holds a large fleet. ` +
	"Every figure says how it was measured, on what machine and when; `make bench` reruns them (and rewrites the sections it owns), " +
	"`make bench-smoke` is the seconds-long CI variant. Cloudflare is always `cfsim` (cfapi/cfsim), nothing leaves the machine.\n"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var err error
	if len(os.Args) > 1 && os.Args[1] == "agent-heap-profile" {
		err = agentHeapProfile(ctx, os.Args[2:], os.Stdout)
	} else {
		err = run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "lgbench:", err)
		os.Exit(1)
	}
}

type options struct {
	smoke           bool
	bin, doc        string
	out             string
	only            map[string]bool
	fleetSizes      []size
	fleetTimeout    time.Duration
	samples         int
	footprintWindow time.Duration
	docker          string
	command         string
	hostileAgents   []int
	hostileModes    []bool
	hostileBytes    int
	hostileFlood    time.Duration
}

type size struct{ agents, containers int }

func parseSizes(s string) ([]size, error) {
	var out []size
	for _, part := range strings.Split(s, ",") {
		a, c, ok := strings.Cut(strings.TrimSpace(part), "x")
		an, err1 := strconv.Atoi(a)
		cn, err2 := strconv.Atoi(c)
		if !ok || err1 != nil || err2 != nil || an <= 0 || cn <= 0 {
			return nil, fmt.Errorf("fleet size %q: want AGENTSxCONTAINERS, e.g. 1000x20", part)
		}
		out = append(out, size{an, cn})
	}
	return out, nil
}

var scenarios = []string{"calls", "budget", "latency", "footprint", "micro", "fleet", "profile", "hostile"}

func parseCounts(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("hostile agent count %q: want a positive number", part)
		}
		out = append(out, n)
	}
	return out, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lgbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.BoolVar(&o.smoke, "smoke", false, "tiny sizes for CI: seconds, fails only on functional errors; writes no document unless -doc is given")
	fs.StringVar(&o.bin, "bin", "bin/labelgate", "the labelgate binary under test (make build)")
	fs.StringVar(&o.doc, "doc", "", "update these sections of this Markdown file (docs/benchmarks.md)")
	fs.StringVar(&o.out, "out", "bin/bench", "directory for results.json, profiles and process logs")
	only := fs.String("only", strings.Join(scenarios, ","), "scenarios to run: "+strings.Join(scenarios, ","))
	sizes := fs.String("fleet", "100x20,300x20,1000x20", "fleet sizes, AGENTSxCONTAINERS, comma-separated")
	fs.DurationVar(&o.fleetTimeout, "fleet-timeout", 20*time.Minute, "cap of each fleet phase (cold start, restart)")
	fs.IntVar(&o.samples, "samples", 30, "latency samples per path")
	fs.DurationVar(&o.footprintWindow, "footprint-window", 150*time.Second, "the agent footprint's idle window")
	fs.StringVar(&o.docker, "docker", "auto", "real-Docker scenarios: auto (if the engine answers), on, off")
	fs.StringVar(&o.command, "command", "make bench", "how this run was started, for the document")
	hostile := fs.String("hostile", "2,4,8", "hostile agent counts, comma-separated (one flood each)")
	fs.IntVar(&o.hostileBytes, "hostile-bytes", 7_000_000, "size of each hostile snapshot frame (the frame cap is 8 MiB)")
	fs.DurationVar(&o.hostileFlood, "hostile-flood", time.Minute, "how long the hostile agents flood")
	modes := fs.String("hostile-modes", "same,changing", "hostile floods: same (the set resent unchanged), changing (every route changed in every snapshot)")
	from := fs.String("from", "", "render the sections from this results.json of an earlier run instead of measuring")
	base := fs.String("base", "", "start from this results.json of an earlier run: the scenarios run now replace theirs, the document gets every section")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.only = map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(scenarios, s) {
			return fmt.Errorf("unknown scenario %q (have %s)", s, strings.Join(scenarios, ","))
		}
		o.only[s] = true
	}
	var err error
	if o.fleetSizes, err = parseSizes(*sizes); err != nil {
		return err
	}
	if o.hostileAgents, err = parseCounts(*hostile); err != nil {
		return err
	}
	for _, m := range strings.Split(*modes, ",") {
		switch strings.TrimSpace(m) {
		case "same":
			o.hostileModes = append(o.hostileModes, false)
		case "changing":
			o.hostileModes = append(o.hostileModes, true)
		default:
			return fmt.Errorf("hostile mode %q: want same or changing", m)
		}
	}
	if o.smoke {
		o.fleetSizes, o.samples = []size{{5, 4}}, 5
		o.hostileAgents, o.hostileModes, o.hostileBytes, o.hostileFlood = []int{2}, []bool{true}, 256<<10, 3*time.Second
		delete(o.only, "profile")
	}
	root, err := imagebuild.ModuleRoot()
	if err != nil {
		return err
	}
	for _, p := range []*string{&o.bin, &o.out, &o.doc} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(root, *p)
		}
	}
	if *from != "" {
		b, err := os.ReadFile(*from)
		if err != nil {
			return err
		}
		var rep bench.Report
		if err := json.Unmarshal(b, &rep); err != nil {
			return fmt.Errorf("reading %s: %w", *from, err)
		}
		return publish(&rep, o, stdout)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "lgbench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(work) }() // a temporary directory

	rep := &bench.Report{}
	if *base != "" {
		b, err := os.ReadFile(*base)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, rep); err != nil {
			return fmt.Errorf("reading %s: %w", *base, err)
		}
	}
	if rep.Stamps == nil {
		rep.Stamps = map[string]bench.Machine{}
	}
	if *base != "" {
		// Scenarios of the base run keep the machine and command they were
		// measured with.
		old := rep.Machine
		old.Command = rep.Command
		for _, s := range scenarios {
			if _, ok := rep.Stamps[s]; !ok {
				rep.Stamps[s] = old
			}
		}
	}
	rep.Machine, rep.Command, rep.Smoke = bench.DescribeMachine(), o.command, o.smoke
	fmt.Fprintf(stdout, "lgbench: %s\n", rep.Machine)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	var failed []error
	step := func(name string, fn func() error) {
		if !o.only[name] || ctx.Err() != nil {
			return
		}
		began := time.Now()
		stamp := bench.DescribeMachine()
		stamp.Command = o.command
		rep.Stamps[name] = stamp
		fmt.Fprintf(stdout, "lgbench: %s …\n", name)
		if err := fn(); err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", name, err))
			fmt.Fprintf(stdout, "lgbench: %s failed after %v: %v\n", name, time.Since(began).Round(time.Second), err)
			return
		}
		fmt.Fprintf(stdout, "lgbench: %s done in %v\n", name, time.Since(began).Round(time.Second))
	}
	needBin := o.only["fleet"] || o.only["footprint"] || o.only["latency"] || o.only["hostile"]
	if needBin {
		if _, err := os.Stat(o.bin); err != nil {
			return fmt.Errorf("the labelgate binary %s is missing (run make build): %w", o.bin, err)
		}
	}
	var docker *bench.DockerEnv
	if o.docker != "off" && (o.only["footprint"] || o.only["latency"]) && !o.smoke {
		docker, err = bench.NewDockerEnv(ctx)
		switch {
		case err != nil && o.docker == "on":
			return err
		case err != nil:
			fmt.Fprintf(stdout, "lgbench: no Docker engine (%v); the real-engine scenarios are skipped\n", err)
			docker = nil
		default:
			defer docker.Close()
			fmt.Fprintf(stdout, "lgbench: building %s from %s …\n", bench.ImageTag, o.bin)
			if err := docker.BuildImage(ctx, root, o.bin); err != nil {
				return err
			}
		}
	}

	step("calls", func() error { return simtime(ctx, root, o, rep, stdout) })
	step("budget", func() error {
		n := 1000
		if o.smoke {
			n = 50
		}
		res, err := bench.RunBudget(ctx, n, work, log)
		if err != nil {
			return err
		}
		rep.Budget = &res
		fmt.Fprintf(stdout, "  budget: %d containers converged in %v with %d calls, %d 429s\n", n, res.Converged.Round(time.Millisecond), res.Calls.Total, res.Calls.RateLimited)
		if res.Calls.RateLimited > 0 {
			return fmt.Errorf("main caused %d 429s", res.Calls.RateLimited)
		}
		return nil
	})
	step("latency", func() error {
		lo := bench.LatencyOptions{Samples: o.samples, Gap: 1500 * time.Millisecond, WorkDir: work, Docker: docker, Logger: log,
			DiagDebounce: 100 * time.Millisecond, DiagSamples: 10}
		if o.smoke {
			lo.Gap, lo.DiagDebounce = 500*time.Millisecond, 0
		}
		rep.LatencyNote = ""
		if docker == nil && !o.smoke {
			rep.LatencyNote = "No Docker engine answered, so the real-engine row is missing."
		}
		res, err := bench.RunLatency(ctx, lo)
		rep.Latency = res
		for _, l := range res {
			fmt.Fprintf(stdout, "  latency %s (%s): p50 %v p95 %v over %d\n", l.Path, l.Engine, l.Latency.P50.Round(time.Millisecond), l.Latency.P95.Round(time.Millisecond), l.Latency.N)
		}
		return err
	})
	step("footprint", func() error {
		rep.Footprint, rep.FootprintNote = nil, ""
		if docker == nil {
			rep.FootprintNote = "Not measured: no Docker engine answered (the scenario needs the real engine)."
			fmt.Fprintln(stdout, "  footprint: skipped (no Docker engine, or -smoke)")
			return nil
		}
		self, err := os.Executable()
		if err != nil {
			return err
		}
		res, err := bench.RunFootprint(ctx, bench.FootprintOptions{Bin: o.bin, Docker: docker, Containers: 50, WorkDir: o.out,
			Warmup: 10 * time.Second, Window: o.footprintWindow, Logger: log, ProfileCmd: []string{self, "agent-heap-profile"}})
		if err != nil {
			return err
		}
		rep.Footprint = &res
		fmt.Fprintf(stdout, "  footprint: RSS %s, CPU %.2f%%\n", bench.MB(res.RSS), res.CPU)
		return nil
	})
	step("micro", func() error {
		mo := bench.MicroOptions{Root: root, Packages: []string{"./labels", "./actors"}, Benchtime: "2s", Log: stdout}
		if o.smoke {
			mo.Benchtime, mo.Short = "1x", true
		}
		rep.MicroCommand, rep.MicroProfile = strings.Join(bench.MicroCommand(mo), " "), ""

		res, err := bench.RunMicro(ctx, mo)
		if err != nil {
			return err
		}
		rep.Micro = res
		if o.smoke {
			return nil
		}
		top, err := bench.ProfileRegistry(ctx, root, o.out)
		rep.MicroProfile = top
		return err
	})
	step("fleet", func() error {
		rep.Fleet = nil
		for _, s := range o.fleetSizes {
			fo := bench.FleetOptions{Bin: o.bin, WorkDir: o.out, Agents: s.agents, Containers: s.containers,
				PhaseTimeout: o.fleetTimeout, SteadyWindow: 3 * time.Minute, Progress: stdout, ProgressEvery: 15 * time.Second}
			if o.smoke {
				fo.PhaseTimeout, fo.SteadyWindow = 2*time.Minute, 2*time.Second
			}
			res, err := bench.RunFleet(ctx, fo)
			if err != nil {
				return err
			}
			rep.Fleet = append(rep.Fleet, res)
			if o.smoke && (!res.Cold.Converged || !res.Restart.Converged) {
				return fmt.Errorf("the smoke fleet did not converge: %s %s", res.Cold.Progress, res.Restart.Progress)
			}
		}
		return nil
	})
	step("profile", func() error {
		p, err := bench.ProfileFleet(ctx, bench.ProfileOptions{WorkDir: o.out, Agents: 1000, Containers: 20, Window: 90 * time.Second, Progress: stdout})
		if err != nil {
			return err
		}
		rep.FleetProfile = &p
		return nil
	})

	step("hostile", func() error {
		rep.Hostile = nil
		for _, change := range o.hostileModes {
			for _, n := range o.hostileAgents {
				ho := bench.HostileOptions{Bin: o.bin, WorkDir: o.out, Agents: n, Change: change, SnapshotBytes: o.hostileBytes, Flood: o.hostileFlood,
					Idle: 30 * time.Second, HonestEvery: 5 * time.Second, ReadyzEvery: 5 * time.Second, WarmTimeout: 10 * time.Minute, Progress: stdout}
				if o.smoke {
					ho.Idle, ho.HonestEvery, ho.ReadyzEvery, ho.WarmTimeout, ho.SettleTimeout = time.Second, time.Second, time.Second, 2*time.Minute, 2*time.Second
				}
				res, err := bench.RunHostile(ctx, ho)
				if err != nil {
					return err
				}
				rep.Hostile = append(rep.Hostile, res)
				if o.smoke && (res.Sent == 0 || res.Acked == 0 || res.CaughtUp == 0 || res.HonestPublished.N == 0) {
					return fmt.Errorf("the smoke flood did not work: %d snapshots sent, %d acknowledged, caught up %v, %d honest changes published", res.Sent, res.Acked, res.CaughtUp, res.HonestPublished.N)
				}
			}
		}
		return nil
	})

	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted; nothing written: %w", err)
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.out, "results.json"), b, 0o644); err != nil {
		return err
	}
	return errors.Join(append(failed, publish(rep, o, stdout))...)
}

// publish prints the sections and, unless smoke, writes them to the document.
func publish(rep *bench.Report, o options, stdout io.Writer) error {
	secs := rep.Sections()
	for _, s := range secs {
		fmt.Fprintf(stdout, "\n## %s\n\n%s\n", s.Heading, s.Body)
	}
	if o.doc == "" || rep.Smoke {
		return nil
	}
	if err := bench.UpdateDoc(o.doc, intro, secs); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "lgbench: wrote %d sections to %s\n", len(secs), o.doc)
	return nil
}

// agentHeapProfile is `lgbench agent-heap-profile`, which the footprint
// scenario runs: bench.ProfileAgentHeap in this fresh process; it prints
// the heap in use.
func agentHeapProfile(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("agent-heap-profile", flag.ContinueOnError)
	endpoint := fs.String("endpoint", "", "main's agent listener")
	token := fs.String("token", "", "the agent's token")
	filter := fs.String("filter", "", "docker.filter_label")
	out := fs.String("out", "", "heap profile file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	inUse, err := bench.ProfileAgentHeap(ctx, *endpoint, *token, *filter, *out)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, inUse)
	return err
}

// simtime runs the simulated-time scenarios (bench/simtime_test.go) with
// go test and reads the JSON they write.
func simtime(ctx context.Context, root string, o options, rep *bench.Report, stdout io.Writer) error {
	dir, err := os.MkdirTemp("", "lgbench-simtime-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }() // a temporary directory
	args := []string{"test", "./bench", "-run", "^(TestAPICalls|TestBudgetAccess)$", "-count", "1", "-v", "-timeout", "30m", "-args", "-lgbench.out=" + dir}
	if !o.smoke {
		args = append(args, "-lgbench.full")
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "simtime_test.go") || strings.HasPrefix(line, "---") || strings.HasPrefix(line, "FAIL") {
			fmt.Fprintln(stdout, " ", strings.TrimSpace(line))
		}
	}
	if err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	read := func(name string, v any) error {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		return json.Unmarshal(b, v)
	}
	if err := read("calls.json", &rep.Calls); err != nil {
		return err
	}
	var ba bench.BudgetResult
	if err := read("budget-access.json", &ba); err != nil {
		return err
	}
	rep.BudgetAccess = &ba
	return nil
}
