package bench

import (
	"fmt"
	"strings"
	"time"
)

// Report is everything one lgbench run measured; a nil or empty field was
// not run.
type Report struct {
	Machine Machine `json:"machine"`
	// Stamps describe the machine when each scenario started (its load
	// average among them); a section's "Measured" line uses its own.
	Stamps map[string]Machine `json:"stamps,omitempty"`
	// Command is how the run was started (`make bench` runs lgbench).
	Command string `json:"command"`
	Smoke   bool   `json:"smoke"`

	Calls         []CallsResult    `json:"calls,omitempty"`
	Latency       []LatencyResult  `json:"latency,omitempty"`
	LatencyNote   string           `json:"latency_note,omitempty"`
	Fleet         []FleetResult    `json:"fleet,omitempty"`
	Hostile       []HostileResult  `json:"hostile,omitempty"`
	FleetProfile  *FleetProfile    `json:"fleet_profile,omitempty"`
	Budget        *BudgetResult    `json:"budget,omitempty"`
	BudgetAccess  *BudgetResult    `json:"budget_access,omitempty"`
	Footprint     *FootprintResult `json:"footprint,omitempty"`
	FootprintNote string           `json:"footprint_note,omitempty"`
	Micro         []MicroResult    `json:"micro,omitempty"`
	MicroCommand  string           `json:"micro_command,omitempty"`
	MicroProfile  string           `json:"micro_profile,omitempty"`
}

// Goals of issue 8.
const (
	GoalCallsRatio   = 1.5
	GoalLatencyExtra = 100 * time.Millisecond // p50 ≤ debounce + this
	GoalMainRSS      = 400 << 20
	GoalReconverge   = 30 * time.Second
	GoalAgentRSS     = 20 << 20
)

// verdict renders a goal check.
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// measured is the line under each heading: when, how, where, using the
// stamp of the scenario the section reports.
func (r *Report) measured(scenario, how string) string {
	m, ok := r.Stamps[scenario]
	if !ok {
		m = r.Machine
	}
	cmd := m.Command
	if cmd == "" {
		cmd = r.Command
	}
	return strings.TrimSpace(fmt.Sprintf("Measured %s with `%s` on %s; commit %s. %s", m.Date, cmd, m.String(), m.Commit, how))
}

// table renders a Markdown table.
func table(head []string, rows [][]string) string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(head, " | ") + " |\n|")
	for range head {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return b.String()
}

// Sections renders every section this run has figures for, in the
// document's order.
func (r *Report) Sections() []Section {
	var out []Section
	if len(r.Calls) > 0 {
		out = append(out, r.callsSection())
	}
	if len(r.Latency) > 0 {
		out = append(out, r.latencySection())
	}
	if len(r.Fleet) > 0 {
		out = append(out, r.fleetSection())
	}
	if len(r.Hostile) > 0 {
		out = append(out, r.hostileSection())
	}
	if r.Budget != nil || r.BudgetAccess != nil {
		out = append(out, r.budgetSection())
	}
	if r.Footprint != nil || r.FootprintNote != "" {
		out = append(out, r.footprintSection())
	}
	if len(r.Micro) > 0 {
		out = append(out, r.microSection())
	}
	for i := range out {
		if strings.Contains(out[i].Body, verdict(false)) {
			out[i].Body = strings.TrimRight(out[i].Body, "\n") + "\n\nA goal is missed in this section: *Findings* at the end of this document says what limits it, from the profiles.\n"
		}
	}
	return out
}

func (r *Report) callsSection() Section {
	var b strings.Builder
	b.WriteString(r.measured("calls", "Simulated time: `testing/synctest` (main's token bucket, debounce and drift timer, and cfsim's clock all run on the bubble's clock).") + "\n\n")
	b.WriteString("Main's whole actor tree runs in process (`actors.StartMain`, real SQLite store) over the fake Docker engine, " +
		"with the containers already running when main starts and an empty zone; cfsim is reached through the real cloudflare-go SDK. " +
		"A cold start counts every request in cfsim's audit log from main's start until ten seconds pass without one " +
		"(`go test ./bench -run '^TestAPICalls$' -args -lgbench.full`, which lgbench runs).\n\n")
	b.WriteString("Running: `make bench` runs every scenario of these sections at its documented size (about an hour on the machine below, most of it the fleets and the hostile floods) and rewrites them here; " +
		"`go run ./bench/cmd/lgbench -only fleet,profile -fleet 100x20 -doc docs/benchmarks.md` reruns chosen scenarios (their sections only), `make bench-hostile` the hostile-agent floods; `make bench-smoke` is the CI variant (tiny sizes, no document). " +
		"Every run leaves `bin/bench/results.json`, the profiles and the processes' logs.\n\n")
	b.WriteString("Lower bound = the zone list (1) + the tunnel configuration GET and PUT (2) + one DNS record list (1 page: the zone starts empty) + ⌈records / 200⌉ batch calls. " +
		"Labelgate's pipeline also lists Access applications and Access policies once each (2 calls, needed to own Access apps); " +
		"they are **included** in *calls* and in the ratio, and left out in *without Access*.\n\n")
	var rows [][]string
	for _, c := range r.Calls {
		ratio := c.Ratio()
		rows = append(rows, []string{c.Case.String(), itoa(c.Cold.Total), itoa(c.Cold.Total - c.Cold.ByEndpoint["GET /accounts/{id}/access/apps"] - c.Cold.ByEndpoint["GET /accounts/{id}/access/policies"]),
			itoa(c.LowerBound), fmt.Sprintf("%.2f× — %s", ratio, verdict(ratio <= GoalCallsRatio)), ms(c.Converged), c.Cold.Breakdown()})
	}
	b.WriteString(table([]string{"converge from cold", "calls", "without Access", "lower bound", "ratio (goal ≤ 1.5×)", "converged after (simulated)", "calls by endpoint"}, rows))
	b.WriteString("\nSteady state: nothing changes for the next " + minutes(r.Calls[0].SteadyWindow) + " of simulated time, with `sync.interval` = " + minutes(r.Calls[0].SyncInterval) +
		" so main's periodic drift reconcile runs several times in the window. Each round reads the zone list, the DNS records, the tunnel configuration and both Access lists, and writes nothing when nothing drifted.\n\n")
	rows = nil
	for _, c := range r.Calls {
		perRound := "—"
		if c.DriftRounds > 0 {
			perRound = formatFloat(float64(c.Steady.Reads)/float64(c.DriftRounds), 1)
		}
		v := fmt.Sprintf("%d — %s", c.Steady.Writes, verdict(c.Steady.Writes == 0 && c.DriftRounds > 0))
		if c.DriftRounds == 0 {
			v += " (no drift round ran: nothing was checked)"
		}
		rows = append(rows, []string{c.Case.String(), itoa(c.DriftRounds), itoa(c.Steady.Reads), perRound, v})
	}
	b.WriteString(table([]string{"steady state after", "drift rounds", "reads", "reads per round", "writes (goal 0)"}, rows))
	return Section{Heading: "API calls", Body: b.String()}
}

func (r *Report) latencySection() Section {
	var b strings.Builder
	b.WriteString(r.measured("latency", "Real time.") + "\n\n")
	b.WriteString("From a container's start to its ingress rule being in cfsim's tunnel configuration (polled every 2 ms), containers started one at a time " +
		"with a pause between samples so the API budget never paces them. Main runs in process against cfsim on loopback, with the default `docker.debounce` " +
		"(500 ms) on main and on the agent. *fake*: the in-memory Docker engine (`dockerwatch/dockertest`), the start is the engine's start event. " +
		"*agent*: an in-process agent (`actors.StartAgent`, fake engine) connected to main over loopback `wss://` (main's generated certificate, token-bound). " +
		"*real*: main watches the local Docker engine (only this run's containers, `docker.filter_label`); the workload is `labelgate hello` from the image built from the binary under test (health check off, as for every workload of the harness: the image's 30-s `labelgate healthcheck` exec across dozens of containers is load the figures would carry); " +
		"the latency counts from the return of the engine's start call. *before the GET* is the part before the tunnel actor read the configuration (cfsim's audit log): the debounce windows.\n\n")
	var rows [][]string
	for _, l := range r.Latency {
		goal := l.Debounce + GoalLatencyExtra
		v := fmt.Sprintf("≤ %s: %s", ms(goal), verdict(l.Latency.P50 <= goal))
		if strings.Contains(l.Path, "diagnosis") {
			v = "— (a diagnosis, not the default)"
		}
		rows = append(rows, []string{l.Path, l.Engine, ms(l.Debounce), itoa(l.Latency.N), ms(l.Latency.P50), ms(l.Latency.P95), ms(l.Latency.Min) + " – " + ms(l.Latency.Max),
			ms(l.ToGet.P50), v})
	}
	b.WriteString(table([]string{"container", "engine", "docker.debounce", "samples", "p50", "p95", "min – max", "before the GET (p50)", "goal p50"}, rows))
	for _, l := range r.Latency {
		if l.Engine == "real" && l.StartCall.N > 0 {
			fmt.Fprintf(&b, "\nThe real engine's start call itself took %s at p50 (%s at p95) on this machine; it is not in the figures above.\n", ms(l.StartCall.P50), ms(l.StartCall.P95))
		}
	}
	if r.LatencyNote != "" {
		b.WriteString("\n" + r.LatencyNote + "\n")
	}
	return Section{Heading: "Latency", Body: b.String()}
}

func (r *Report) fleetSection() Section {
	var b strings.Builder
	b.WriteString(r.measured("fleet", "Real time.") + "\n\n")
	b.WriteString("Main is a separate process — the `labelgate` binary under test, configured by environment only, with one token per simulated agent in " +
		"`LABELGATE_AGENT_AGENTS` — so its RSS (`VmRSS` of `/proc/<pid>/status`) and CPU (`utime + stime` of `/proc/<pid>/stat`) are its own. " +
		"cfsim runs in the harness process with its default rate limit (1,200 requests / 300 s); main keeps its default budget (3 requests/s, burst 10). " +
		"The load generator (`bench.LoadGen`) runs the simulated agents in the harness: no Docker, the real bridge protocol over `wss://` to main's generated certificate " +
		"(token-bound), announce + full snapshot on every connect, reconnecting like the product's agent link (`bridge.NewBackoff`, the same loop as `actors/agentlink.go`). " +
		"Every container has one tunnel route on the one tunnel (and so one proxied CNAME). The harness shares the machine's cores with main.\n\n" +
		"Times count from main's process start. *Registry complete*: `GET /api/v1/overview` reports every hostname active and none frozen, i.e. every agent's set is applied " +
		"(polled every second; the registry answers after the messages queued before the query). *Tunnel written*: the tunnel configuration in cfsim holds every route. " +
		"*DNS complete* is the budget tail: every proxied CNAME, paced by the 3 requests/s bucket (⌈N/200⌉ batches plus re-lists). " +
		"A restart is SIGTERM, then the same binary and database; the agents notice and come back on their own backoff. " +
		"*Steady state*: after convergence main is left idle (heartbeats and timers only) and its RSS read at the end of the window, its CPU averaged over it; " +
		"the RSS 30 s after convergence is shown too, because until the Go runtime's periodic GC (every 2 minutes without one) and its scavenger run, " +
		"a process that was just busy still holds the heap of its busy phase. " +
		"The goals are for the 1,000-agent fleet; smaller fleets show how the figures scale.\n\n")
	for _, f := range r.Fleet {
		fmt.Fprintf(&b, "**%d agents × %d containers = %d hostnames**\n\n", f.Agents, f.Containers, f.Hostnames)
		var rows [][]string
		row := func(name string, cold, restart string) { rows = append(rows, []string{name, cold, restart}) }
		t := func(d time.Duration, ok bool) string {
			if !ok || d == 0 {
				return "not reached"
			}
			return secs(d)
		}
		c, rs := f.Cold, f.Restart
		row("all agents connected", t(c.AllConnected, c.AllConnected > 0), t(rs.AllConnected, rs.AllConnected > 0))
		row("all snapshots acknowledged", t(c.AllAcked, c.AllAcked > 0), t(rs.AllAcked, rs.AllAcked > 0))
		row("snapshot throughput (acks/s, first to last ack of the wave)", formatFloat(c.AckRate, 0), formatFloat(rs.AckRate, 0))
		reconv := "—"
		if rs.Registry > 0 {
			reconv = fmt.Sprintf("%s — %s", secs(rs.Registry), verdict(rs.Registry <= GoalReconverge))
		} else if rs.Progress != "" {
			reconv = "not reached — **missed**"
		}
		row("registry complete (restart: goal ≤ 30 s)", t(c.Registry, c.Registry > 0), reconv)
		restartDone := func(d time.Duration) string {
			if rs.Calls.Writes == 0 && rs.Converged {
				return "already complete (0 writes after the restart)"
			}
			return t(d, d > 0)
		}
		row("tunnel config written", t(c.Tunnel, c.Tunnel > 0), restartDone(rs.Tunnel))
		row("DNS complete (budget tail)", t(c.DNS, c.DNS > 0), restartDone(rs.DNS))
		row("Cloudflare calls (reads / writes, 429s)", fmt.Sprintf("%d (%d / %d, %d)", c.Calls.Total, c.Calls.Reads, c.Calls.Writes, c.Calls.RateLimited),
			fmt.Sprintf("%d (%d / %d, %d)", rs.Calls.Total, rs.Calls.Reads, rs.Calls.Writes, rs.Calls.RateLimited))
		row("budget floor for those calls / summed token-bucket waits", secs(c.BudgetFloor)+" / "+formatFloat(c.LimiterWait, 1)+" s", secs(rs.BudgetFloor)+" / "+formatFloat(rs.LimiterWait, 1)+" s")
		steady := func(p FleetPhase) string {
			if !p.Converged {
				return "not measured (did not converge)"
			}
			return fmt.Sprintf("%s — %s", MB(p.SteadyRSS), verdict(p.SteadyRSS <= GoalMainRSS))
		}
		if c.EarlyRSS > 0 || rs.EarlyRSS > 0 {
			early := func(p FleetPhase) string {
				if p.EarlyRSS == 0 {
					return "—"
				}
				return MB(p.EarlyRSS)
			}
			row("main RSS 30 s after convergence", early(c), early(rs))
		}
		row("main RSS at steady state, after "+minutes(f.SteadyWindow)+" idle (goal ≤ 400 MiB)", steady(c), steady(rs))
		row("main peak RSS (the phase and its idle window)", MB(c.PeakRSS), MB(rs.PeakRSS))
		cpu := func(p FleetPhase) string {
			if !p.Converged {
				return "—"
			}
			return formatFloat(p.SteadyCPU, 1) + " % of a core over " + f.SteadyWindow.String()
		}
		row("main CPU at steady state", cpu(c), cpu(rs))
		row("main / harness CPU time during the phase", secs(c.MainCPU)+" / "+secs(c.HarnessCPU), secs(rs.MainCPU)+" / "+secs(rs.HarnessCPU))
		row("dials (failed)", fmt.Sprintf("%d (%d)", c.Dials, c.DialErrors), fmt.Sprintf("%d (%d)", rs.Dials, rs.DialErrors))
		row("previous main's graceful stop", "—", secs(rs.StopTook))
		b.WriteString(table([]string{"", "cold start (empty store)", "restart of main"}, rows))
		for _, p := range []struct {
			name string
			ph   FleetPhase
		}{{"Cold start", c}, {"Restart", rs}} {
			if p.ph.Progress != "" {
				fmt.Fprintf(&b, "\n%s %s.\n", p.name, p.ph.Progress)
			}
		}
		fmt.Fprintf(&b, "\nCloudflare calls of the cold start by endpoint: %s. Of the restart: %s.\n", c.Calls.Breakdown(), rs.Calls.Breakdown())
		if rs.StopNote != "" {
			fmt.Fprintf(&b, "\nStopping main before the restart: %s.\n", rs.StopNote)
		}
		b.WriteString("\n")
	}
	if p := r.FleetProfile; p != nil {
		fmt.Fprintf(&b, "\nProfile: `lgbench -only profile` runs the cold start of %d × %d with main's actor tree in the harness process (the binary serves no pprof) and `runtime/pprof` on from the first dial until every hostname was applied or %v passed (%v here); "+
			"at its end the registry's last answer counted %d of %d hostnames active, cfsim's tunnel configuration held %d routes, and the Go heap in use was %s. Top of the CPU profile (cumulative; `go tool pprof -top -cum`), then of the in-use heap:\n\n```\n%s\n```\n\n```\n%s\n```\n",
			p.Agents, p.Containers, p.Window, p.Took.Round(time.Second), p.Applied, p.Agents*p.Containers, p.Rules, MB(int64(p.HeapInUse)), trimTop(p.CPUTop, 25), trimTop(p.HeapTop, 16))
	}
	return Section{Heading: "Fleet", Body: b.String()}
}

func (r *Report) budgetSection() Section {
	var b strings.Builder
	b.WriteString(r.measured("budget", "") + "\n\n")
	b.WriteString("Against cfsim's real rate limit: 1,200 requests per 300 s sliding window per token, and a 300 s lockout (429) for the token that exceeds it. " +
		"Main keeps its default budget (`cloudflare.requests_per_second` 3, `burst` 10) and runs in process over the fake Docker engine; the containers start all at once.\n\n")
	var rows [][]string
	for _, br := range []*BudgetResult{r.Budget, r.BudgetAccess} {
		if br == nil {
			continue
		}
		rows = append(rows, []string{itoa(br.Containers) + " containers: " + br.Shape, br.Clock, secs(br.Converged), itoa(br.Calls.Total),
			fmt.Sprintf("%d — %s", br.Calls.RateLimited, verdict(br.Calls.RateLimited == 0)), itoa(br.MaxWindow) + " / 1,200", secs(br.BudgetFloor), br.Calls.Breakdown()})
	}
	b.WriteString(table([]string{"burst", "clock", "converged after", "calls", "429s caused by main (goal 0)", "most requests in any 300 s (start-up reads included)", "bucket floor ((calls − 10) / 3 s)", "calls by endpoint"}, rows))
	b.WriteString("\nWith batching, a burst of plain routes is a handful of calls, far inside the budget; the convergence time is the debounce plus the planners' calls. " +
		"The Access burst cannot be batched (one application create per hostname, one call at a time), so it is paced by main's token bucket: about 3 calls/s, " +
		"which stays under Cloudflare's 4/s average — no 429, no lockout — and the convergence time is essentially the bucket floor. It runs in simulated time " +
		"(`go test ./bench -run '^TestBudgetAccess$' -args -lgbench.full`): the pacing is exact, the real-time equivalent is the same number of seconds.\n")
	return Section{Heading: "Budget", Body: b.String()}
}

func (r *Report) footprintSection() Section {
	var b strings.Builder
	b.WriteString(r.measured("footprint", "Real time.") + "\n\n")
	if f := r.Footprint; f != nil {
		fmt.Fprintf(&b, "An agent process — the `labelgate` binary under test, `LABELGATE_MODE=agent`, configured by environment — on the local Docker engine, watching %d running "+
			"`labelgate hello` containers (image `%s`, built from the same binary, health check off; each with one tunnel route; `docker.filter_label` selects this run's), connected over `wss://` "+
			"to a main process (the same binary). Measured after its set reached main (%s after its start) and %s of warm-up: `VmRSS` at the end of a %s idle window, and `utime + stime` over it "+
			"(the window holds heartbeats every 15 s; no Docker event happens in it).\n\n", f.Containers, ImageTag, secs(f.Ready), "10 s", f.Window)
		b.WriteString(table([]string{"process", "engine", "containers", "RSS idle (goal ≤ 20 MiB)", "of which anonymous / file-backed", "peak RSS", "CPU idle", "CPU from start to the end of the warm-up"}, [][]string{{
			"labelgate agent", f.Engine, itoa(f.Containers), fmt.Sprintf("%s — %s", MB(f.RSS), verdict(f.RSS <= GoalAgentRSS)), MB(f.RSSAnon) + " / " + MB(f.RSSFile), MB(f.PeakRSS),
			formatFloat(f.CPU, 2) + " % of a core", secs(f.StartCPU)}, {
			"`labelgate hello` (one of the 50; same binary, an idle HTTP server)", "—", "—", MB(f.Hello.RSS), MB(f.Hello.RSSAnon) + " / " + MB(f.Hello.RSSFile), "—", "—", "—"}}))
		if f.GCTrace != "" {
			fmt.Fprintf(&b, "\nThe agent's last GC in the window (`GODEBUG=gctrace=1`): `%s` — heap before → after → live, and the next goal.\n", f.GCTrace)
		}
		if f.HeapTop != "" {
			fmt.Fprintf(&b, "\nIn-use heap of the same agent tree run alone in a fresh process of the harness (`lgbench agent-heap-profile`: `actors.StartAgent` on the same engine and containers, "+
				"`runtime/pprof` after a GC): %s in use. `go tool pprof -top -sample_index=inuse_space`:\n\n```\n%s\n```\n", MB(int64(f.HeapInUse)), trimTop(f.HeapTop, 12))
		}
	}
	if r.FootprintNote != "" {
		b.WriteString("\n" + r.FootprintNote + "\n")
	}
	return Section{Heading: "Agent footprint", Body: b.String()}
}

func (r *Report) microSection() Section {
	var b strings.Builder
	b.WriteString(r.measured("micro", "") + "\n\n")
	fmt.Fprintf(&b, "`%s`. The label parser parses one container's labels (cases from the golden files, a compose container with one route among Docker's own labels, "+
		"a container with 20 routes). The registry benchmarks work on a settled state of 1,000 sources × 20 containers = 20,000 claims: *ApplySet* is one agent's changed snapshot "+
		"(rebuild its claims, decide the hostnames it claims or claimed), *DecideAll* revisits every hostname with nothing changed (what a grace tick does; it reports the store writes "+
		"the pass queues: rows are written only when they change), *Desired* assembles the desired state, *Flush* adds the JSON encoding and digest of an emission "+
		"(the registry emits at most once per window: 50 ms, or 4 × the last emission's cost if that is more), *FleetFill* applies the first snapshot of every agent of a fleet in turn (a connect wave). "+
		"*PlanTunnel* merges 1,000 owned rules into a live configuration (with foreign rules and a catch-all) and canonicalises both.\n\n", r.MicroCommand)
	var rows [][]string
	for _, m := range r.Micro {
		extra := ""
		for k, v := range m.Extra {
			extra += fmt.Sprintf("%s %s", formatFloat(v, 0), k)
		}
		rows = append(rows, []string{m.Pkg, m.Name, itoa(m.Iterations), nsString(m.NsPerOp), formatFloat(m.BytesPerOp, 0), formatFloat(m.AllocsPerOp, 0), extra})
	}
	b.WriteString(table([]string{"package", "benchmark", "iterations", "time/op", "B/op", "allocs/op", "other"}, rows))
	if r.MicroProfile != "" {
		fmt.Fprintf(&b, "\nCPU profile of the registry's per-snapshot work (`%s`, then `go tool pprof -top -cum`):\n\n```\n%s\n```\n",
			strings.Join(ProfileCommand("DIR"), " "), trimTop(r.MicroProfile, 25))
	}
	return Section{Heading: "Micro-benchmarks", Body: b.String()}
}

// minutes formats a whole number of minutes ("10 minutes"), else the
// duration.
func minutes(d time.Duration) string {
	if d > 0 && d%time.Minute == 0 {
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return d.String()
}

// nsString formats ns/op with a readable unit.
func nsString(ns float64) string {
	switch {
	case ns >= 1e9:
		return formatFloat(ns/1e9, 2) + " s"
	case ns >= 1e6:
		return formatFloat(ns/1e6, 2) + " ms"
	case ns >= 1e3:
		return formatFloat(ns/1e3, 2) + " µs"
	}
	return formatFloat(ns, 0) + " ns"
}

// trimTop keeps the header and the first n rows of a pprof -top table.
func trimTop(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n+1 {
		lines = lines[:n+1]
	}
	return strings.Join(lines, "\n")
}

func (r *Report) hostileSection() Section {
	var b strings.Builder
	b.WriteString(r.measured("hostile", "Real time.") + "\n\n")
	h0 := r.Hostile[0]
	fmt.Fprintf(&b, "Issue 11, point 6: a session keeps at most the newest pending snapshot of its agent. Main is the `labelgate` binary under test, a separate process configured "+
		"as in *Fleet* (cfsim in the harness, main's default Cloudflare budget, `GODEBUG=gctrace=1` for its live heap), with one token per agent. "+
		"The hostile agents run in the harness and speak the real bridge protocol "+
		"(`bridge.Dial` over `wss://`, a valid token): each holds %d realistic labelled containers (a Compose service each: Compose's and the image's OCI labels, "+
		"one Labelgate tunnel route), a snapshot frame F of %s (the frame cap is 8 MiB) that decodes into D = %s of Go heap (measured in the harness with `bridge.DecodeFrame`, as main decodes). "+
		"An honest agent (`bench.LoadGen`, 20 containers) is connected too.\n\n", h0.Containers, MB(h0.FrameBytes), MB(h0.DecodedBytes))
	fmt.Fprintf(&b, "Phases: main idle with no agent; every agent connects and sends its set once, honestly, until main's registry, cfsim's tunnel configuration and its DNS records "+
		"hold every hostname (*honest apply*), then %v idle; the **flood**: for %v every hostile agent sends snapshots without pause and without waiting for an ack "+
		"(a send queue of 2 frames: the agent writes as fast as main reads), each with a new version; meanwhile the honest agent changes all its routes every %v and "+
		"`/readyz` is polled every %v, as a readiness probe would; then main catches up (every hostile agent's last snapshot acknowledged) and is left %v idle. "+
		"Main's `VmRSS` is sampled every 250 ms. Main acknowledges a snapshot once its registry applied it (`SetApplied`); snapshots it replaced unseen are never acknowledged. "+
		"Two kinds of flood: *same set* resends the agent's set unchanged (an agent stuck in a loop), "+
		"*every route changed* alternates two variants of the set that differ in every route's service, so every snapshot main takes changes every route.\n\n",
		h0.Idle, h0.Flood, h0.HonestEvery, h0.ReadyzEvery, h0.Idle)
	b.WriteString("Verdicts, decided from the design before the first run:\n\n" +
		"- *per-agent budget*: the flood's peak RSS ≤ the honest apply's peak + N × 2 × (F + 3 D). What a session may make main hold " +
		"beyond the applied set is the frame being read and three decoded snapshots (just decoded by the connection's reader, waiting in the pump, in the registry's mailbox); " +
		"×2 because with `GOGC=100` the heap grows to twice the live heap before a collection.\n" +
		"- *no growth*: the flood's second half raises the peak RSS by less than one frame per agent (N × F) over its first half. A queue that grows with the flood grows in both halves.\n" +
		"- */readyz*: at every poll during the flood the store and the registry answered within `/readyz`'s own 3-s deadline (its `docker` check fails by design: main has no Docker here).\n" +
		"- *honest agent*: every change it made during the flood was in cfsim's tunnel configuration within 30 s of its send (an agent session itself stops waiting for the registry after 30 s).\n")
	for _, change := range []bool{false, true} {
		var runs []HostileResult
		for _, h := range r.Hostile {
			if h.Change == change {
				runs = append(runs, h)
			}
		}
		if len(runs) == 0 {
			continue
		}
		title := "Same set resent"
		if change {
			title = "Every route changed in every snapshot"
		}
		fmt.Fprintf(&b, "\n**%s**\n\n", title)
		b.WriteString(hostileTable(runs))
		for _, h := range runs {
			if h.ReadyzNote != "" {
				fmt.Fprintf(&b, "\n%d agents, first /readyz miss: %s.\n", h.Agents, h.ReadyzNote)
			}
			if h.WarmProgress != "" {
				fmt.Fprintf(&b, "\n%d agents: %s.\n", h.Agents, h.WarmProgress)
			}
		}
	}
	return Section{Heading: "Hostile agents", Body: b.String()}
}

// hostileTable is one mode's floods, a column per size.
func hostileTable(runs []HostileResult) string {
	head := []string{""}
	for _, h := range runs {
		head = append(head, fmt.Sprintf("%d hostile agents", h.Agents))
	}
	var rows [][]string
	row := func(name string, cell func(h HostileResult) string) {
		cells := []string{name}
		for _, h := range runs {
			cells = append(cells, cell(h))
		}
		rows = append(rows, cells)
	}
	idle := runs[0].Idle.String()
	row("hostnames held (hostile + honest)", func(h HostileResult) string { return itoa(h.Hostnames) })
	row("main RSS idle, no agent", func(h HostileResult) string { return MB(h.IdleRSS) })
	row("honest apply of every set: took / main's peak RSS", func(h HostileResult) string {
		if h.WarmProgress != "" {
			return "not complete"
		}
		return secs(h.WarmTook) + " / " + MB(h.WarmPeak)
	})
	row("main RSS before the flood (after "+idle+" idle)", func(h HostileResult) string { return MB(h.Before) })
	row("**main peak RSS during the flood** (when)", func(h HostileResult) string {
		return fmt.Sprintf("**%s** (+%s)", MB(h.Peak), secs(h.PeakAt))
	})
	row("flood's cost per agent: (peak − before) / N", func(h HostileResult) string {
		per := (h.Peak - h.Before) / int64(max(h.Agents, 1))
		return fmt.Sprintf("%s (%s × F)", MB(per), formatFloat(float64(per)/float64(max(h.FrameBytes, 1)), 1))
	})
	row("per-agent budget: peak ≤ honest apply's peak + N × 2(F + 3D)", func(h HostileResult) string {
		return fmt.Sprintf("%s ≤ %s — %s", MB(h.Peak), MB(h.Bound()), verdict(h.WithinBudget()))
	})
	row("no growth: peak RSS of the 2nd half ≤ 1st half + N × F", func(h HostileResult) string {
		return fmt.Sprintf("%s vs %s — %s", MB(h.SecondHalf), MB(h.FirstHalf), verdict(h.Bounded()))
	})
	row("Go live heap marked by a GC: the last before the flood / 1st half max / 2nd half max", func(h HostileResult) string {
		live := func(b int64) string {
			if b == 0 {
				return "— (no GC)"
			}
			return MB(b)
		}
		return live(h.LiveBefore) + " / " + live(h.LiveFirstHalf) + " / " + live(h.LiveSecondHalf)
	})
	row("main RSS after the flood (caught up + "+idle+" idle) / peak since the flood's end", func(h HostileResult) string {
		return MB(h.After) + " / " + MB(h.AfterPeak)
	})
	row("hostile snapshots sent / acknowledged (applied) / replaced unseen", func(h HostileResult) string {
		return fmt.Sprintf("%d / %d / %d (%s sent per second)", h.Sent, h.Acked, h.Sent-h.Acked, formatFloat(float64(h.Sent)/h.Flood.Seconds(), 1))
	})
	row("hostile reconnects", func(h HostileResult) string { return itoa(h.Reconnects) })
	row("caught up after the flood (every last snapshot acknowledged)", func(h HostileResult) string {
		if h.CaughtUp == 0 {
			return "not within the cap"
		}
		return secs(h.CaughtUp)
	})
	row("registry's answer to a query sent as the flood ended", func(h HostileResult) string {
		if h.RegistryErr != "" {
			return secs(h.RegistryAnswer) + " (" + h.RegistryErr + ")"
		}
		return secs(h.RegistryAnswer)
	})
	row("/readyz during the flood: p50 / max", func(h HostileResult) string {
		return ms(h.Readyz.P50) + " / " + ms(h.Readyz.Max)
	})
	row("/readyz: store and registry answered in time", func(h HostileResult) string {
		return fmt.Sprintf("%d of %d — %s", h.Readyz.N-h.ReadyzMissed, h.Readyz.N, verdict(h.ReadyzOK()))
	})
	row("honest agent's changes acknowledged: p50 / max", func(h HostileResult) string {
		return fmt.Sprintf("%s / %s (%d of %d)", ms(h.HonestAck.P50), ms(h.HonestAck.Max), h.HonestAck.N, h.HonestSent)
	})
	row("honest agent's changes in Cloudflare within 30 s: p50 / max", func(h HostileResult) string {
		return fmt.Sprintf("%d of %d, %s / %s — %s", h.HonestSent-h.HonestLate, h.HonestSent, ms(h.HonestPublished.P50), ms(h.HonestPublished.Max), verdict(h.HonestOK()))
	})
	row("main / harness CPU time during the flood", func(h HostileResult) string { return secs(h.MainCPU) + " / " + secs(h.HarnessCPU) })
	return table(head, rows)
}
