package actors

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/labelgate/labelgate/bridge"
	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/dockerwatch"
	"github.com/labelgate/labelgate/dockerwatch/dockertest"
	"github.com/labelgate/labelgate/messages"
)

// freePort returns a loopback address nobody listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // only a free port was wanted
	return addr
}

const (
	tokenA = "token-for-agent-a-0123456789"
	tokenB = "token-for-agent-b-0123456789"
	tokenC = "token-for-agent-c-0123456789"
)

// testAgent is an agent running in the test process with its own fake
// Docker engine.
type testAgent struct {
	engine *dockertest.Engine
	cfg    config.Config
	m      *Main
}

func startTestAgent(t *testing.T, mutate func(*config.Config)) *testAgent {
	t.Helper()
	cfg := config.Defaults()
	cfg.Mode = config.ModeAgent
	cfg.Docker.Debounce = 50 * time.Millisecond
	cfg.Connect.HeartbeatInterval = 200 * time.Millisecond
	mutate(&cfg)
	a := &testAgent{engine: dockertest.New(), cfg: cfg}
	a.start(t)
	t.Cleanup(a.stop)
	return a
}

func (a *testAgent) start(t *testing.T) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	m, err := StartAgent(a.cfg, AgentDeps{Logger: logger, Version: "test",
		NewDocker: func(dockerwatch.Config) (dockerwatch.Client, error) { return a.engine, nil }})
	if err != nil {
		t.Fatal(err)
	}
	a.m = m
}

func (a *testAgent) stop() {
	if a.m != nil {
		a.m.Stop()
		a.m = nil
	}
}

// TestAgentsBothModesConflictAndFailover runs main with two outbound agents
// (one over wss:// with main's generated certificate, one over ws://) and
// one inbound agent, all in process over loopback.
func TestAgentsBothModesConflictAndFailover(t *testing.T) {
	listen := freePort(t)
	inbound := freePort(t)
	logs := &syncBuffer{}
	p := newPipelineLogged(t, func(c *config.Config) {
		c.Sync.RemoveDelay = time.Second
		c.Agent.Enabled = true
		c.Agent.Listen = listen
		c.Agent.HeartbeatInterval = 200 * time.Millisecond
		c.Agent.Agents = map[string]config.AgentEntry{
			"alpha": {Token: tokenA, DefaultTunnel: "default"},
			"beta":  {Token: tokenB},
			"gamma": {Token: tokenC, ConnectTo: "ws://" + inbound},
		}
	}, logs)
	alpha := startTestAgent(t, func(c *config.Config) {
		c.Connect.Endpoint = "wss://" + listen // main's self-signed certificate, token-bound
		c.Connect.Token = tokenA
	})
	beta := startTestAgent(t, func(c *config.Config) {
		c.Connect.Endpoint = "ws://" + listen + "/any/path"
		c.Connect.Token = tokenB
		c.DefaultTunnel = "nope" // announced, but main's config for beta has none: unknown → error
	})
	gamma := startTestAgent(t, func(c *config.Config) {
		c.Connect.Mode = config.ConnectInbound
		c.Connect.Listen = inbound
		c.Connect.Token = tokenC
	})

	// alpha registers app.example.com first; beta claims it too.
	a1 := alpha.engine.Start("web", labelsOf("labelgate.tunnel.web.hostname", "app.example.com", "labelgate.tunnel.web.service", "http://alpha-web:80", "labelgate.tunnel.web.cleanup", "true"))
	eventually(t, 10*time.Second, "alpha's route", func() bool { return p.hasRule("app.example.com>http://alpha-web:80") })
	beta.engine.Start("web", labelsOf("labelgate.tunnel.web.hostname", "app.example.com", "labelgate.tunnel.web.service", "http://beta-web:80", "labelgate.tunnel.web.tunnel", "default"))
	gamma.engine.Start("svc", labelsOf("labelgate.tunnel.svc.hostname", "gamma.example.com", "labelgate.tunnel.svc.service", "http://gamma:80"))
	eventually(t, 10*time.Second, "gamma's route (inbound mode) and the CNAMEs", func() bool {
		recs := p.records()
		_, a := recs["CNAME app.example.com"]
		_, g := recs["CNAME gamma.example.com"]
		return p.hasRule("gamma.example.com>http://gamma:80") && a && g
	})

	ags := p.agents()
	if len(ags) != 3 {
		t.Fatalf("agents: %+v", ags)
	}
	for _, a := range ags {
		if a.State != messages.AgentStatusConnected {
			t.Fatalf("agent %s not connected: %+v", a.Name, a)
		}
		if a.Name == "alpha" && a.TLSMode != "token-bound" {
			t.Fatalf("alpha should be token-bound over wss://, got %s", a.TLSMode)
		}
	}
	for _, h := range p.hostnameStates() {
		if h.Hostname == "app.example.com" && (h.Winner.Source != "agent:alpha" || len(h.Queued) != 1 || h.Queued[0].Source != "agent:beta") {
			t.Fatalf("app.example.com: want alpha winning and beta queued, got %+v", h)
		}
	}

	// alpha's agent goes away: its claims are frozen, nothing is written.
	p.reconciled(10 * time.Second)
	w0, _ := p.writes()
	alpha.stop()
	frozenAt := time.Now()
	p.waitState("app.example.com", messages.HostFrozen)
	// Frozen claims start no grace: even once one would have ended, and
	// every planner has reconciled, nothing was written.
	time.Sleep(time.Until(frozenAt.Add(p.cfg.Sync.RemoveDelay)) + 100*time.Millisecond)
	p.reconciled(10 * time.Second)
	if w, _ := p.writes(); w != w0 || !p.hasRule("app.example.com>http://alpha-web:80") {
		for _, e := range p.sim.Audit() {
			t.Logf("%s %s %d", e.Method, e.Path, e.Status)
		}
		t.Fatalf("a disconnected agent's route must stay frozen (writes %d, rules %v)", w-w0, p.ingress())
	}

	// alpha comes back and its container stops: after the grace beta takes
	// over in place (an update, no gap).
	alpha.start(t)
	eventually(t, 10*time.Second, "alpha reconnected", func() bool {
		ags := p.agents()
		return len(ags) == 3 && ags[0].State == messages.AgentStatusConnected
	})
	alpha.engine.Stop(a1)
	eventually(t, 10*time.Second, "beta takes over", func() bool { return p.hasRule("app.example.com>http://beta-web:80") })
	for _, e := range p.sim.Audit() {
		if e.Method == "DELETE" {
			t.Fatalf("a failover must not delete: %+v", e)
		}
	}

	// A wrong token never gets in.
	rogue := startTestAgent(t, func(c *config.Config) {
		c.Connect.Endpoint = "ws://" + listen
		c.Connect.Token = "not-a-configured-token-0000"
	})
	rogue.engine.Start("evil", labelsOf("labelgate.tunnel.web.hostname", "evil.example.com", "labelgate.tunnel.web.service", "http://evil:80"))
	eventually(t, 10*time.Second, "main to refuse the rogue's handshake", func() bool {
		return strings.Contains(logs.String(), "bridge handshake refused")
	})
	p.reconciled(10 * time.Second)
	if p.hasRule("evil.example.com>http://evil:80") {
		t.Fatal("an agent with a wrong token got a route")
	}
	if ags := p.agents(); len(ags) != 3 {
		t.Fatalf("the rogue agent must not be listed: %+v", ags)
	}
}

// TestAgentSnapshotFlood: an agent that sends a thousand snapshots as fast
// as it can is acknowledged up to the last version and main ends up with
// the last set; the connection stays up.
func TestAgentSnapshotFlood(t *testing.T) {
	listen := freePort(t)
	p := newPipeline(t, func(c *config.Config) {
		c.Agent.Enabled = true
		c.Agent.Listen = listen
		c.Agent.Agents = map[string]config.AgentEntry{"flood": {Token: tokenA}}
	})
	var conn *bridge.Conn
	eventually(t, 10*time.Second, "main's agent listener", func() bool {
		var err error
		conn, err = bridge.Dial(t.Context(), bridge.DialConfig{URL: "ws://" + listen, Role: bridge.RoleAgent, Key: bridge.Key{Name: "main", Token: []byte(tokenA)}})
		return err == nil
	})
	defer conn.Close(bridge.CodeNormal, "done")
	const n = 1000
	for v := uint64(1); v <= n; v++ {
		c := labelsOf("labelgate.tunnel.web.hostname", "flood.example.com", "labelgate.tunnel.web.service", fmt.Sprintf("http://web:%d", 2000+v))
		set := messages.ContainerSet{Source: "spoofed", Version: v, Containers: []messages.Container{{ID: "c", Name: "web", Labels: c, State: "running"}}}
		if err := conn.Send(t.Context(), bridge.Snapshot{Set: set}); err != nil {
			t.Fatalf("sending snapshot %d: %v", v, err)
		}
	}
	var acked uint64
	deadline := time.After(20 * time.Second)
	for acked < n {
		select {
		case f, ok := <-conn.Recv():
			if !ok {
				t.Fatalf("the connection ended after ack %d: %v", acked, conn.Err())
			}
			if a, isAck := f.Body.(bridge.Ack); isAck {
				acked = a.Version
			}
		case <-deadline:
			t.Fatalf("only %d of %d snapshots acknowledged", acked, n)
		}
	}
	eventually(t, 20*time.Second, "the last set's route", func() bool { return p.hasRule(fmt.Sprintf("flood.example.com>http://web:%d", 2000+n)) })
	if rules := p.ingress(); len(rules) != 2 {
		t.Fatalf("only the last set counts: %v", rules)
	}
	hs := p.hostnameStates()
	if len(hs) != 1 || hs[0].Winner.Source != "agent:flood" {
		t.Fatalf("the snapshots' source must be the agent whose token matched, not what they claimed: %+v", hs)
	}
}
