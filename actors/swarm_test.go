package actors

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/dockerwatch/dockertest"
	"github.com/labelgate/labelgate/messages"
	"github.com/labelgate/labelgate/store"
)

// Swarm services of main's engine are claims like containers: a service's
// route is published, follows its labels, stays while it is scaled to 0,
// and goes after the grace once the service is removed. A container that
// claims a service's hostname later waits in the queue (first registration
// wins), and takes over when the service leaves.
func TestPipelineSwarmServices(t *testing.T) {
	p := newPipeline(t, nil)
	p.engine.SetSwarm(swarm.LocalNodeStateActive, true)
	svc := p.engine.CreateService("stack_web", labelsOf(
		"labelgate.tunnel.web.hostname", "web.example.com", "labelgate.tunnel.web.service", "http://stack_web:80"))
	eventually(t, 15*time.Second, "the service's route", func() bool { return p.hasRule("web.example.com>http://stack_web:80") })
	st := p.waitState("web.example.com", messages.HostActive)
	if st.Winner.Source != messages.LocalSource || st.Winner.Container != "stack_web" {
		t.Fatalf("winner = %+v, want the service stack_web of local", st.Winner)
	}

	// A plain container of the same host claims the same hostname later:
	// it is queued behind the service, and nothing it says is published.
	p.engine.Start("web-copy", labelsOf(
		"labelgate.tunnel.web.hostname", "web.example.com", "labelgate.tunnel.web.service", "http://web-copy:80"))
	eventually(t, 10*time.Second, "the container queued behind the service", func() bool {
		for _, h := range p.hostnameStates() {
			if h.Hostname == "web.example.com" {
				return slices.Contains(h.Queued, messages.Owner{Source: messages.LocalSource, Container: "web-copy"})
			}
		}
		return false
	})

	// docker service update --label-add: the route follows.
	p.engine.EditService(svc, func(s *dockertest.Service) { s.Labels["labelgate.tunnel.web.service"] = "http://stack_web:8080" })
	eventually(t, 15*time.Second, "the updated route", func() bool { return p.hasRule("web.example.com>http://stack_web:8080") })

	// Scaled to 0, the service still exists: its claim stays active. Wait
	// past the debounce and the whole grace, so a service that had left
	// the set would show as leaving or gone.
	p.engine.EditService(svc, func(s *dockertest.Service) { s.Replicas = 0 })
	time.Sleep(p.cfg.Docker.Debounce + p.cfg.Sync.RemoveDelay + time.Second)
	p.reconciled(10 * time.Second)
	for _, h := range p.hostnameStates() {
		if h.Hostname == "web.example.com" && (h.State != messages.HostActive || h.Winner.Container != "stack_web") {
			t.Fatalf("after scaling to 0: %+v, want active with stack_web", h)
		}
	}
	if !p.hasRule("web.example.com>http://stack_web:8080") {
		t.Fatalf("the route went when the service was scaled to 0: %v", p.ingress())
	}

	// Removed, it leaves with the grace; then the queued container wins.
	p.engine.RemoveService(svc)
	left := p.waitState("web.example.com", messages.HostLeaving)
	if left.Winner.Container != "stack_web" {
		t.Fatalf("leaving hostname's winner = %+v, want stack_web", left.Winner)
	}
	if !p.hasRule("web.example.com>http://stack_web:8080") {
		t.Fatalf("the route went before the grace: %v", p.ingress())
	}
	eventually(t, 15*time.Second, "the container to take over after the grace", func() bool {
		return p.hasRule("web.example.com>http://web-copy:80")
	})
}

// An invalid label of a service is reported naming the service and the
// label.
func TestPipelineSwarmServiceLabelError(t *testing.T) {
	p := newPipeline(t, nil)
	p.engine.SetSwarm(swarm.LocalNodeStateActive, true)
	p.engine.CreateService("stack_bad", labelsOf("labelgate.tunnel.web.hostname", "bad.example.com", "labelgate.tunnel.web.service", "ftp://x"))
	eventually(t, 10*time.Second, "the label error", func() bool {
		rep, err := p.report()
		if err != nil {
			return false
		}
		for _, r := range rep.LabelErrors {
			if r.Container == "stack_bad" && r.Kind == messages.KindService && len(r.Errors) > 0 && r.Errors[0].Key == "labelgate.tunnel.web.service" {
				return true
			}
		}
		return false
	})
	eventually(t, 10*time.Second, "a label_error event naming the Swarm service", func() bool {
		for _, e := range p.events(t, store.EventQuery{}) {
			if e.Kind == "label_error" && strings.HasPrefix(e.Message, "Swarm service stack_bad: ") && strings.Contains(e.Message, "labelgate.tunnel.web.service") {
				return true
			}
		}
		return false
	})
}

// An agent on a Swarm manager reports the services of its swarm in its
// snapshot when its docker.swarm says so; main publishes them under the
// agent's source. By default an agent reports none (an agent on a manager
// of main's own swarm would report every service a second time).
func TestAgentReportsSwarmServices(t *testing.T) {
	listen := freePort(t)
	p := newPipeline(t, func(c *config.Config) {
		c.Agent.Enabled = true
		c.Agent.Listen = listen
		c.Agent.HeartbeatInterval = 200 * time.Millisecond
		c.Agent.Agents = map[string]config.AgentEntry{"alpha": {Token: tokenA}, "beta": {Token: tokenB}}
	})
	a := startTestAgent(t, func(c *config.Config) {
		c.Connect.Endpoint = "ws://" + listen
		c.Connect.Token = tokenA
		c.Docker.Swarm = "auto"
	})
	b := startTestAgent(t, func(c *config.Config) { // docker.swarm left to its default
		c.Connect.Endpoint = "ws://" + listen
		c.Connect.Token = tokenB
	})
	for _, e := range []*dockertest.Engine{a.engine, b.engine} {
		e.SetSwarm(swarm.LocalNodeStateActive, true)
	}
	b.engine.Start("plain", labelsOf("labelgate.tunnel.p.hostname", "plain.example.com", "labelgate.tunnel.p.service", "http://plain:80"))
	b.engine.CreateService("stack_other", labelsOf(
		"labelgate.tunnel.o.hostname", "other.example.com", "labelgate.tunnel.o.service", "http://stack_other:80"))
	a.engine.CreateService("stack_api", labelsOf(
		"labelgate.tunnel.api.hostname", "api.example.com", "labelgate.tunnel.api.service", "http://stack_api:3000"))
	eventually(t, 15*time.Second, "the agent's service routed", func() bool { return p.hasRule("api.example.com>http://stack_api:3000") })
	eventually(t, 15*time.Second, "beta's container routed", func() bool { return p.hasRule("plain.example.com>http://plain:80") })
	p.reconciled(10 * time.Second)
	if p.hasRule("other.example.com>http://stack_other:80") {
		t.Errorf("an agent with the default docker.swarm reported a Swarm service: %v", p.ingress())
	}
	st := p.waitState("api.example.com", messages.HostActive)
	if st.Winner.Source != "agent:alpha" || st.Winner.Container != "stack_api" {
		t.Fatalf("winner = %+v, want the service stack_api of agent:alpha", st.Winner)
	}
}
