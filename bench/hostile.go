package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labelgate/labelgate/bridge"
	"github.com/labelgate/labelgate/messages"
)

// HostileOptions tune RunHostile.
type HostileOptions struct {
	Bin     string // the labelgate binary under test
	WorkDir string
	// Agents is the number of hostile agents.
	Agents int
	// SnapshotBytes is the size each hostile snapshot's frame is built up to
	// (realistic containers are added while the frame stays under it).
	SnapshotBytes int
	// Flood is how long the hostile agents send snapshots without pause.
	Flood time.Duration
	// Idle is how long main is left alone before the flood (after the
	// agents' first sets are applied) and after it (once it caught up).
	Idle time.Duration
	// Change makes every snapshot of the flood differ from the one before
	// in every route (two variants of the set, alternating); without it the
	// agents resend the same set with a new version.
	Change bool
	// HonestEvery is the pace of the honest agent's changes during the
	// flood, ReadyzEvery that of the /readyz polls (a readiness probe's).
	HonestEvery, ReadyzEvery time.Duration
	// WarmTimeout caps the honest first apply of every agent's set (and the
	// catch-up after the flood).
	WarmTimeout time.Duration
	// SettleTimeout overrides main's sync.settle_timeout (MainEnv's 10 s
	// when zero): main's own Docker source never reports here, so main
	// settles by this timeout.
	SettleTimeout time.Duration
	Progress      io.Writer
}

// Goals of the hostile-agent scenario (issue 11, point 6).
const (
	// GoalHonestPublished is how soon an honest agent's change must reach
	// Cloudflare during a flood: the product's own patience for the
	// registry (an agent session stops waiting for it after 30 s).
	GoalHonestPublished = 30 * time.Second
	// hostileCopies is how many decoded snapshots an agent session may make
	// main hold beyond the applied one (actors/agentsession.go: one just
	// decoded by the connection's reader, one waiting in the pump, one in
	// the registry's mailbox), on top of the frame being read.
	hostileCopies = 3
	// gcHeadroom: with GOGC=100 (main's default) the Go heap grows to
	// twice the live heap before it is collected.
	gcHeadroom = 2
)

// HostileResult is one flood: N hostile agents against a main process.
type HostileResult struct {
	Agents int  `json:"agents"`
	Change bool `json:"change"` // every snapshot changed every route

	// Containers per hostile snapshot, FrameBytes the size of one snapshot
	// frame on the wire, DecodedBytes the Go heap one decoded frame holds
	// (measured in the harness with bridge.DecodeFrame, as main decodes).
	Containers   int           `json:"containers"`
	FrameBytes   int64         `json:"frame_bytes"`
	DecodedBytes int64         `json:"decoded_bytes"`
	Hostnames    int           `json:"hostnames"` // every agent's, the honest one's too
	Flood        time.Duration `json:"flood"`
	Idle         time.Duration `json:"idle"`
	HonestEvery  time.Duration `json:"honest_every"`
	ReadyzEvery  time.Duration `json:"readyz_every"`

	// Main's RSS: idle with no agent connected; peak while every agent's
	// set was applied once (an honest connect of the same agents); at the
	// end of the idle window before the flood; peak during the flood (and
	// when, from the flood's start); the peaks of the flood's two halves;
	// at the end of the idle window after main caught up.
	IdleRSS    int64         `json:"idle_rss"`
	WarmPeak   int64         `json:"warm_peak"`
	Before     int64         `json:"before"`
	Peak       int64         `json:"peak"`
	PeakAt     time.Duration `json:"peak_at"`
	FirstHalf  int64         `json:"first_half"`
	SecondHalf int64         `json:"second_half"`
	After      int64         `json:"after"`
	AfterPeak  int64         `json:"after_peak"` // from the flood's end to After
	// The live heap a GC marked (GODEBUG=gctrace=1): at the last GC before
	// the flood (the runtime forces one only every 2 minutes, so it may
	// fall in the honest apply), and the largest in each half of the flood.
	LiveBefore     int64 `json:"live_before"`
	LiveFirstHalf  int64 `json:"live_first_half"`
	LiveSecondHalf int64 `json:"live_second_half"`

	WarmTook     time.Duration `json:"warm_took"`
	WarmProgress string        `json:"warm_progress,omitempty"` // set when the warm-up did not complete

	// Snapshots the hostile agents sent during the flood, and how many of
	// them main acknowledged (by the end of the catch-up).
	Sent       int `json:"sent"`
	Acked      int `json:"acked"`
	Reconnects int `json:"reconnects"` // sessions of hostile agents beyond the first
	// CaughtUp: from the flood's end until main acknowledged every hostile
	// agent's last snapshot (0: not within WarmTimeout).
	CaughtUp time.Duration `json:"caught_up"`
	// RegistryAnswer is how long main's registry took to answer an
	// overview query sent when the flood ended (it answers after the
	// messages queued before it: the backlog the flood left).
	RegistryAnswer time.Duration `json:"registry_answer"`
	RegistryErr    string        `json:"registry_err,omitempty"`

	// Readyz is the latency of /readyz polled every ReadyzEvery during the
	// flood; ReadyzMissed counts the answers in which the store or the
	// registry did not answer within /readyz's own deadline, or no answer.
	Readyz       Durations `json:"readyz"`
	ReadyzMissed int       `json:"readyz_missed"`
	ReadyzNote   string    `json:"readyz_note,omitempty"` // the first miss

	// The honest agent's changes during the flood: acknowledged and in
	// Cloudflare's tunnel configuration, from its send.
	HonestSent      int       `json:"honest_sent"`
	HonestAck       Durations `json:"honest_ack"`
	HonestPublished Durations `json:"honest_published"`
	HonestLate      int       `json:"honest_late"` // not in Cloudflare within GoalHonestPublished

	MainCPU    time.Duration `json:"main_cpu"` // during the flood
	HarnessCPU time.Duration `json:"harness_cpu"`
	MainLog    string        `json:"-"`
}

// PerAgentBudget is what the session's budget lets one flooding agent add
// to main's memory: the frame being read and hostileCopies decoded
// snapshots, with the GC's headroom.
func (r HostileResult) PerAgentBudget() int64 {
	return gcHeadroom * (r.FrameBytes + hostileCopies*r.DecodedBytes)
}

// Bound is the verdict's limit on the flood's peak RSS: the peak of the
// honest apply of the same sets plus the per-agent budget of every agent.
func (r HostileResult) Bound() int64 { return r.WarmPeak + int64(r.Agents)*r.PerAgentBudget() }

// WithinBudget: the flood's peak stayed under Bound.
func (r HostileResult) WithinBudget() bool { return r.Peak > 0 && r.Peak <= r.Bound() }

// Bounded: the flood's second half raised main's peak RSS by less than one
// frame per agent over its first half. A queue that grows with the flood
// grows in both halves; a bounded one reaches its plateau in the first.
func (r HostileResult) Bounded() bool {
	return r.SecondHalf > 0 && r.SecondHalf <= r.FirstHalf+int64(r.Agents)*r.FrameBytes
}

// ReadyzOK: at every /readyz of the flood the store and the registry
// answered within /readyz's own deadline.
func (r HostileResult) ReadyzOK() bool { return r.Readyz.N > 0 && r.ReadyzMissed == 0 }

// HonestOK: every honest change of the flood reached Cloudflare in time.
func (r HostileResult) HonestOK() bool { return r.HonestSent > 0 && r.HonestLate == 0 }

// HostileName and HostileToken name hostile agent i and its token.
func HostileName(i int) string  { return fmt.Sprintf("hostile%02d", i) }
func HostileToken(i int) string { return fmt.Sprintf("lgbench-hostile-%02d-0123456789", i) }

// HostileHostname is the tunnel hostname of container c of hostile agent i.
func HostileHostname(i, c int) string { return fmt.Sprintf("svc%05d-h%02d.%s", c, i, Zone) }

// hostileContainer is container c of hostile agent i as a Compose project
// reports it: Compose's and the image's OCI labels beside one Labelgate
// tunnel route. variant changes the route's service port, so the two
// variants of a set differ in every route.
func hostileContainer(i, c, variant int, created time.Time) messages.Container {
	project := fmt.Sprintf("shop%03d", c/40)
	service := fmt.Sprintf("svc%05d", c)
	name := project + "-" + service + "-1"
	digest := func(parts ...any) string {
		s := sha256.Sum256(fmt.Append(nil, parts...))
		return hex.EncodeToString(s[:])
	}
	id := digest("container", i, c)
	return messages.Container{
		ID: id, Name: name, State: "running", Created: created, Started: created.Add(2 * time.Second),
		Labels: map[string]string{
			"com.docker.compose.config-hash":          digest("config", i, c),
			"com.docker.compose.container-number":     "1",
			"com.docker.compose.depends_on":           "db:service_healthy:false,cache:service_started:false",
			"com.docker.compose.image":                "sha256:" + digest("image", c%7),
			"com.docker.compose.oneoff":               "False",
			"com.docker.compose.project":              project,
			"com.docker.compose.project.config_files": "/srv/" + project + "/compose.yaml",
			"com.docker.compose.project.working_dir":  "/srv/" + project,
			"com.docker.compose.service":              service,
			"com.docker.compose.version":              "2.29.7",
			"org.opencontainers.image.created":        "2026-11-20T10:04:31Z",
			"org.opencontainers.image.licenses":       "Apache-2.0",
			"org.opencontainers.image.revision":       digest("revision", c%7)[:40],
			"org.opencontainers.image.source":         "https://git.example.com/" + project + "/" + service,
			"org.opencontainers.image.title":          service,
			"org.opencontainers.image.version":        "1.4.2",
			"labelgate.tunnel.web.hostname":           HostileHostname(i, c),
			"labelgate.tunnel.web.service":            fmt.Sprintf("http://%s:%d", name, 8080+variant),
		},
		Networks: []messages.Network{{Name: project + "_default", IPv4: fmt.Sprintf("10.%d.%d.%d", 20+i, c/250, 2+c%250)}},
	}
}

// hostileSets builds agent i's two variants of a set whose snapshot frame
// is as large as fits in frameBytes, and returns the number of containers
// and the frame's size.
func hostileSets(i, frameBytes int) ([2]*messages.ContainerSet, int, int64, error) {
	created := time.Date(2026, 11, 20, 10, 5, 0, 0, time.UTC)
	build := func(n, variant int) *messages.ContainerSet {
		set := &messages.ContainerSet{Source: messages.AgentSource(HostileName(i)), Version: 1, ObservedAt: created}
		for c := range n {
			set.Containers = append(set.Containers, hostileContainer(i, c, variant, created))
		}
		return set
	}
	size := func(set *messages.ContainerSet) (int64, error) {
		b, err := bridge.EncodeFrame(bridge.Frame{Seq: 1 << 40, Body: bridge.Snapshot{Set: *set}})
		return int64(len(b)), err
	}
	one, err := size(build(1, 0))
	if err != nil {
		return [2]*messages.ContainerSet{}, 0, 0, err
	}
	two, err := size(build(2, 0))
	if err != nil {
		return [2]*messages.ContainerSet{}, 0, 0, err
	}
	per := max(two-one, 1)
	n := max(int((int64(frameBytes)-one)/per)+1, 1)
	for {
		set := build(n, 0)
		got, err := size(set)
		if err != nil {
			return [2]*messages.ContainerSet{}, 0, 0, err
		}
		if got <= int64(frameBytes) || n == 1 {
			return [2]*messages.ContainerSet{set, build(n, 1)}, n, got, nil
		}
		n -= int((got-int64(frameBytes))/per) + 1
		n = max(n, 1)
	}
}

// decodedBytes measures the Go heap a decoded snapshot frame holds, as
// main's connection reader decodes it (bridge.DecodeFrame).
func decodedBytes(set *messages.ContainerSet) (int64, error) {
	raw, err := bridge.EncodeFrame(bridge.Frame{Seq: 1, Body: bridge.Snapshot{Set: *set}})
	if err != nil {
		return 0, err
	}
	// Two GCs before each reading: the encoder's pooled buffers survive
	// one (sync.Pool's victim cache) and would blur the difference.
	var a, b runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&a)
	f, err := bridge.DecodeFrame(raw)
	if err != nil {
		return 0, err
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&b)
	runtime.KeepAlive(raw) // live in both readings: only the decoded frame counts
	runtime.KeepAlive(f)
	return int64(b.HeapAlloc) - int64(a.HeapAlloc), nil
}

// hostileAgent floods main with its snapshots: it speaks the real bridge
// protocol with a valid token, sends its set once and waits for the ack
// (the honest first apply), then, from the flood's start to its end, sends
// the set again and again, alternating two variants and counting up the
// version, without waiting for any ack. It reconnects like LoadGen's agents.
type hostileAgent struct {
	i      int
	sets   [2]*messages.ContainerSet
	url    string
	change bool

	version   atomic.Uint64 // the last version handed to the connection
	acked     atomic.Uint64 // the highest version main acknowledged
	ackCount  atomic.Int64  // acks of versions sent during the flood
	floodFrom atomic.Uint64 // the first version of the flood
	sent      atomic.Int64  // snapshots sent during the flood
	sessions  atomic.Int64
}

func (h *hostileAgent) set(v uint64) bridge.Snapshot {
	s := *h.sets[0]
	if h.change {
		s = *h.sets[v%2]
	}
	s.Version, s.ObservedAt = v, time.Now()
	return bridge.Snapshot{Set: s}
}

func (h *hostileAgent) run(ctx context.Context, flood <-chan struct{}, floodCtx context.Context) {
	b := bridge.NewBackoff(bridge.BackoffConfig{})
	dial := bridge.DialConfig{URL: h.url, Role: bridge.RoleAgent,
		Key: bridge.Key{Name: "main", Token: []byte(HostileToken(h.i))},
		// A queue of two frames is enough to keep main's side of the
		// socket busy; the long send timeout keeps the agent on while
		// main reads slowly (it is main's reading we measure).
		Options: bridge.Options{Heartbeat: 15 * time.Second, SendQueue: 2, SendTimeout: 2 * time.Minute}}
	for ctx.Err() == nil {
		conn, err := bridge.Dial(ctx, dial)
		if err != nil {
			if sleepCtx(ctx, b.Next()) != nil {
				return
			}
			continue
		}
		b.Connected()
		h.sessions.Add(1)
		h.session(ctx, conn, flood, floodCtx)
		if sleepCtx(ctx, b.Next()) != nil {
			return
		}
	}
}

func (h *hostileAgent) session(ctx context.Context, conn *bridge.Conn, flood <-chan struct{}, floodCtx context.Context) {
	defer conn.Close(bridge.CodeGoingAway, "the hostile agent is stopping")
	go func() {
		for f := range conn.Recv() {
			if a, ok := f.Body.(bridge.Ack); ok {
				if from := h.floodFrom.Load(); from > 0 && a.Version >= from {
					h.ackCount.Add(1)
				}
				for {
					cur := h.acked.Load()
					if a.Version <= cur || h.acked.CompareAndSwap(cur, a.Version) {
						break
					}
				}
			}
		}
	}()
	send := func(c context.Context, body bridge.Body) error { return conn.Send(c, body) }
	if send(ctx, bridge.Announce{Hostname: HostileName(h.i), AgentVersion: "lgbench-hostile", Docker: bridge.DockerStatus{Connected: true}}) != nil {
		return
	}
	// Every session starts with the current set, as an agent does.
	v := h.version.Load()
	if v == 0 {
		v = 1
		h.version.Store(v)
	}
	if send(ctx, h.set(v)) != nil {
		return
	}
	select {
	case <-ctx.Done():
		return
	case <-conn.Done():
		return
	case <-flood:
	}
	for floodCtx.Err() == nil {
		v := h.version.Load() + 1
		h.floodFrom.CompareAndSwap(0, v)
		if err := send(floodCtx, h.set(v)); err != nil {
			if errors.Is(err, bridge.ErrClosed) {
				return
			}
			continue // the flood ended while the queue was full
		}
		h.version.Store(v)
		h.sent.Add(1)
	}
	select {
	case <-ctx.Done():
	case <-conn.Done():
	}
}

// RunHostile runs main (the labelgate binary, configured by environment
// like the fleet's) against cfsim in this process, with Agents hostile
// agents and one honest agent (LoadGen, 20 containers). Phases: main idle;
// every agent connects and its set is applied once (registry, tunnel and
// DNS complete), then Idle; the flood (the honest agent changes its set
// every HonestEvery, /readyz is polled every ReadyzEvery); main catches up
// (every hostile agent's last snapshot acknowledged), then Idle. It returns
// an error only when something breaks (main exits, the first apply does
// not complete); the verdicts are HostileResult's methods.
func RunHostile(ctx context.Context, o HostileOptions) (HostileResult, error) {
	res := HostileResult{Agents: o.Agents, Change: o.Change, Flood: o.Flood, Idle: o.Idle, HonestEvery: o.HonestEvery, ReadyzEvery: o.ReadyzEvery}
	name := fmt.Sprintf("hostile-%d-same", o.Agents)
	if o.Change {
		name = fmt.Sprintf("hostile-%d-changing", o.Agents)
	}
	dir, err := freshDir(o.WorkDir, name)
	if err != nil {
		return res, err
	}
	progress := func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "  %s: "+format+"\n", append([]any{name}, args...)...)
		}
	}

	agents := make([]*hostileAgent, o.Agents)
	for i := range agents {
		sets, n, size, err := hostileSets(i, o.SnapshotBytes)
		if err != nil {
			return res, fmt.Errorf("building the hostile snapshots: %w", err)
		}
		agents[i] = &hostileAgent{i: i, sets: sets, change: o.Change}
		res.Containers, res.FrameBytes = n, size
	}
	if res.DecodedBytes, err = decodedBytes(agents[0].sets[0]); err != nil {
		return res, err
	}
	const honestContainers = 20
	res.Hostnames = o.Agents*res.Containers + honestContainers
	progress("%d containers per snapshot, frame %s, decoded %s", res.Containers, MB(res.FrameBytes), MB(res.DecodedBytes))

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
	tokens := map[string]string{AgentName(0): AgentToken(0)}
	for i := range agents {
		tokens[HostileName(i)] = HostileToken(i)
		agents[i].url = "wss://" + listen
	}
	env, err := MainEnv(sim, dir, listen, apiAddr, tokens)
	if err != nil {
		return res, err
	}
	if o.SettleTimeout > 0 {
		env["LABELGATE_SYNC_SETTLE_TIMEOUT"] = o.SettleTimeout.String()
	}
	env["GODEBUG"] = "gctrace=1" // the live heap after each GC, in main's log
	api := APIClient{Base: "http://" + apiAddr, HTTP: &http.Client{Timeout: 2 * time.Minute}}
	res.MainLog = filepath.Join(o.WorkDir, name+"-main.log")
	_ = os.Remove(res.MainLog)
	main, err := StartProc(o.Bin, env, res.MainLog)
	if err != nil {
		return res, err
	}
	defer func() { _, _ = main.Stop(time.Minute) }()
	sampler := StartSampler(main.Pid, 250*time.Millisecond)
	defer sampler.Stop()
	exited := func() error {
		select {
		case <-main.Exited():
			return fmt.Errorf("main exited during the hostile run; its log ends with:\n%s", main.Tail(20))
		default:
			return nil
		}
	}

	// Main idle, no agent connected.
	for !api.Healthy(ctx) {
		if err := exited(); err != nil {
			return res, err
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return res, err
		}
	}
	if err := sleepCtx(ctx, min(o.Idle, 5*time.Second)); err != nil {
		return res, err
	}
	if s, err := ReadProc(main.Pid); err == nil {
		res.IdleRSS = s.RSS
	}

	// Every agent connects; its set is applied once.
	runCtx, stopAgents := context.WithCancel(ctx)
	defer stopAgents()
	flood := make(chan struct{})
	floodCtx, endFlood := context.WithCancel(runCtx)
	defer endFlood()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopAgents()
	for _, a := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.run(runCtx, flood, floodCtx)
		}()
	}
	honest := NewLoadGen(LoadGenConfig{URL: "wss://" + listen, Agents: 1, Containers: honestContainers,
		Options: bridge.Options{Heartbeat: 15 * time.Second}})
	honest.Start()
	defer honest.Stop()
	warmFrom := time.Now()
	deadline := warmFrom.Add(o.WarmTimeout)
	for {
		if err := exited(); err != nil {
			return res, err
		}
		acked := 0
		for _, a := range agents {
			if a.acked.Load() >= 1 {
				acked++
			}
		}
		h, _ := honest.AckedAll()
		c, cancel := context.WithTimeout(ctx, time.Minute)
		ov, ovErr := api.Overview(c)
		cancel()
		rules, records := sim.RuleCount(), sim.RecordCount()
		active := ov.Hostnames["active"]
		// Settled (every source reported, or main's settle timeout) never
		// reverts: during the flood, /readyz's settled check fails only
		// when the registry does not answer in time.
		if acked == len(agents) && h == 1 && ovErr == nil && active == res.Hostnames && rules >= res.Hostnames && records >= res.Hostnames && ov.Settled {
			break
		}
		if time.Now().After(deadline) {
			res.WarmProgress = fmt.Sprintf("the honest apply did not complete in %v: %d/%d hostile sets and %d/1 honest acknowledged; registry %d of %d active, settled %v (overview error %v); %d rules, %d records in cfsim",
				o.WarmTimeout, acked, len(agents), h, active, res.Hostnames, ov.Settled, oneLine(ovErr), rules, records)
			return res, errors.New(res.WarmProgress)
		}
		if err := sleepCtx(ctx, time.Second); err != nil {
			return res, err
		}
	}
	res.WarmTook = time.Since(warmFrom)
	res.WarmPeak = sampler.Peak()
	progress("sets applied in %v (registry, tunnel, DNS), peak RSS %s", res.WarmTook.Round(time.Second), MB(res.WarmPeak))
	if err := sleepCtx(ctx, o.Idle); err != nil {
		return res, err
	}
	before, err := ReadProc(main.Pid)
	if err != nil {
		return res, err
	}
	res.Before = before.RSS
	progress("RSS before the flood %s", MB(res.Before))

	// The flood.
	self0, _ := ReadProc(os.Getpid())
	floodStart := time.Now()
	close(flood)
	var pollers sync.WaitGroup
	var readyz []time.Duration
	pollers.Add(2)
	go func() { // /readyz, as a readiness probe would poll it
		defer pollers.Done()
		for floodCtx.Err() == nil {
			began := time.Now()
			c, cancel := context.WithTimeout(ctx, 30*time.Second)
			rz, err := api.Readyz(c)
			cancel()
			took := time.Since(began)
			readyz = append(readyz, took)
			miss := ""
			switch {
			case err != nil:
				miss = "no answer: " + oneLine(err)
			case !rz.Checks["store"].OK:
				miss = "store check: " + rz.Checks["store"].Error
			case !rz.Checks["settled"].OK:
				miss = "the registry did not answer in time (settled: false)"
			}
			if miss != "" {
				res.ReadyzMissed++
				if res.ReadyzNote == "" {
					res.ReadyzNote = fmt.Sprintf("at +%v after %v: %s", began.Sub(floodStart).Round(time.Second), took.Round(time.Millisecond), miss)
				}
			}
			_ = sleepCtx(floodCtx, o.ReadyzEvery-took)
		}
	}()
	var acks, published []time.Duration
	go func() { // the honest agent changes its set
		defer pollers.Done()
		for n := 1; floodCtx.Err() == nil; n++ {
			salt := fmt.Sprintf("-h%d", n)
			sent := time.Now()
			honest.Bump(salt)
			res.HonestSent++
			var ack, pub time.Duration
			for ack == 0 || pub == 0 {
				if k, at := honest.AckedAll(); ack == 0 && k == 1 {
					ack = at.Sub(sent)
				}
				if pub == 0 && honestPublished(sim, honestContainers, salt) {
					pub = time.Since(sent)
				}
				if time.Since(sent) > GoalHonestPublished || ctx.Err() != nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if ack > 0 {
				acks = append(acks, ack)
			}
			if pub > 0 {
				published = append(published, pub)
			} else {
				res.HonestLate++
			}
			_ = sleepCtx(floodCtx, o.HonestEvery-time.Since(sent))
		}
	}()
	half := floodStart.Add(o.Flood / 2)
	stopPollers := func() {
		endFlood()
		pollers.Wait()
	}
	for next := floodStart.Add(15 * time.Second); time.Since(floodStart) < o.Flood; {
		if err := exited(); err != nil {
			stopPollers()
			return res, err
		}
		if o.Progress != nil && time.Now().After(next) {
			next = next.Add(15 * time.Second)
			last, _ := sampler.Last()
			progress("flood +%v: sent %d, RSS %s", time.Since(floodStart).Round(time.Second), sentTotal(agents), MB(last.RSS))
		}
		if err := sleepCtx(ctx, min(time.Second, o.Flood-time.Since(floodStart))); err != nil {
			stopPollers()
			return res, err
		}
	}
	endFlood()
	floodEnd := time.Now()
	main1, _ := ReadProc(main.Pid)
	self1, _ := ReadProc(os.Getpid())
	res.MainCPU, res.HarnessCPU = main1.CPU-before.CPU, self1.CPU-self0.CPU
	// The registry's backlog: an overview query sent now is answered after
	// everything queued before it.
	regDone := make(chan struct{})
	go func() {
		defer close(regDone)
		c, cancel := context.WithTimeout(ctx, o.WarmTimeout)
		defer cancel()
		began := time.Now()
		if _, err := api.Overview(c); err != nil {
			res.RegistryErr = oneLine(err)
		}
		res.RegistryAnswer = time.Since(began)
	}()
	stopPollers()
	for _, s := range sampler.Samples() {
		switch {
		case s.At.Before(floodStart) || s.At.After(floodEnd):
		case s.At.Before(half):
			res.FirstHalf = max(res.FirstHalf, s.RSS)
		default:
			res.SecondHalf = max(res.SecondHalf, s.RSS)
		}
		if !s.At.Before(floodStart) && !s.At.After(floodEnd) && s.RSS > res.Peak {
			res.Peak, res.PeakAt = s.RSS, s.At.Sub(floodStart)
		}
	}
	for _, a := range agents {
		res.Sent += int(a.sent.Load())
		res.Reconnects += int(max(a.sessions.Load()-1, 0))
	}
	res.Readyz, res.HonestAck, res.HonestPublished = Summarise(readyz), Summarise(acks), Summarise(published)
	if log, err := os.ReadFile(res.MainLog); err == nil {
		for _, g := range gcLive(string(log), main.Started) {
			switch {
			case g.at.After(floodEnd):
			case g.at.Before(floodStart):
				res.LiveBefore = g.live // the last GC before the flood
			case g.at.Before(half):
				res.LiveFirstHalf = max(res.LiveFirstHalf, g.live)
			default:
				res.LiveSecondHalf = max(res.LiveSecondHalf, g.live)
			}
		}
	}
	progress("flood over: sent %d, peak RSS %s at +%v (halves %s / %s), /readyz max %v (%d missed), honest published max %v (%d late)",
		res.Sent, MB(res.Peak), res.PeakAt.Round(time.Second), MB(res.FirstHalf), MB(res.SecondHalf), res.Readyz.Max.Round(time.Millisecond), res.ReadyzMissed,
		res.HonestPublished.Max.Round(time.Millisecond), res.HonestLate)

	// Catching up: every hostile agent's last snapshot acknowledged.
	for deadline := floodEnd.Add(o.WarmTimeout); ; {
		done := true
		for _, a := range agents {
			if a.acked.Load() < a.version.Load() {
				done = false
			}
		}
		if done {
			res.CaughtUp = max(time.Since(floodEnd), time.Millisecond)
			break
		}
		if err := exited(); err != nil {
			return res, err
		}
		if time.Now().After(deadline) {
			break
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return res, err
		}
	}
	<-regDone
	for _, a := range agents {
		res.Acked += int(a.ackCount.Load())
	}
	if err := sleepCtx(ctx, o.Idle); err != nil {
		return res, err
	}
	after, err := ReadProc(main.Pid)
	if err != nil {
		return res, err
	}
	res.After = after.RSS
	for _, s := range sampler.Samples() {
		if s.At.After(floodEnd) {
			res.AfterPeak = max(res.AfterPeak, s.RSS)
		}
	}
	progress("caught up %v after the flood (registry answered in %v), %d of %d flood snapshots acknowledged; RSS after %s",
		res.CaughtUp.Round(time.Millisecond), res.RegistryAnswer.Round(time.Millisecond), res.Acked, res.Sent, MB(res.After))
	return res, nil
}

type gcLiveHeap struct {
	at   time.Time
	live int64
}

// gcLive reads the GC trace lines of a process log (GODEBUG=gctrace=1:
// "gc 4 @120.167s 0%: …, 9->9->4 MB, …"): when each GC ran (the process
// started at started) and the live heap it marked.
func gcLive(log string, started time.Time) []gcLiveHeap {
	var out []gcLiveHeap
	for line := range strings.Lines(log) {
		if !strings.HasPrefix(line, "gc ") {
			continue
		}
		var at float64
		var live int64
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "@") && strings.HasSuffix(f, "s") {
				at, _ = strconv.ParseFloat(f[1:len(f)-1], 64)
			}
			if parts := strings.Split(strings.TrimSuffix(f, ","), "->"); len(parts) == 3 {
				live, _ = strconv.ParseInt(parts[2], 10, 64)
			}
		}
		if at > 0 && live > 0 {
			out = append(out, gcLiveHeap{started.Add(time.Duration(at * float64(time.Second))), live << 20})
		}
	}
	return out
}

func sentTotal(agents []*hostileAgent) int64 {
	var n int64
	for _, a := range agents {
		n += a.sent.Load()
	}
	return n
}

// honestPublished reports whether cfsim's tunnel configuration holds every
// route of the honest agent's set with this salt (LoadGen.Bump).
func honestPublished(sim *Sim, containers int, salt string) bool {
	tc, ok := sim.TunnelConfigOf(sim.TunnelID)
	if !ok {
		return false
	}
	for c := range containers {
		svc, _ := json.Marshal("http://" + fmt.Sprintf("web%02d", c) + salt + ":8080")
		if !bytes.Contains(tc.Config, svc) {
			return false
		}
	}
	return true
}
