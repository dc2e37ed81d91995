package dockerwatch

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/swarm"

	"github.com/labelgate/labelgate/dockerwatch/dockertest"
	"github.com/labelgate/labelgate/messages"
)

func manager() *dockertest.Engine {
	fc := dockertest.New()
	fc.SetSwarm(swarm.LocalNodeStateActive, true)
	return fc
}

func swarmConfig(mode SwarmMode) Config {
	cfg := testConfig()
	cfg.Swarm = mode
	return cfg
}

func member(t *testing.T, s messages.ContainerSet, name string) messages.Container {
	t.Helper()
	for _, c := range s.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("set %s has no member %q", s, name)
	return messages.Container{}
}

func TestSwarmServicesAreMembersOnAManager(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := manager()
		fc.Add("web", labels("labelgate.tunnel.web.hostname", "web.example.com"))
		svc := fc.CreateService("stack_api", labels("labelgate.tunnel.api.hostname", "api.example.com", "com.docker.stack.namespace", "stack"))
		fc.CreateService("stack_db", labels("com.example.role", "database")) // no labelgate label
		h := startWatcher(t, fc, testConfig())                               // auto
		defer h.stop()

		s := h.rec.last(t)
		wantNames(t, s, "stack_api", "web")
		got := member(t, s, "stack_api")
		created := got.Created
		want := messages.Container{
			Kind: messages.KindService, ID: svc, Name: "stack_api", State: "replicated", Created: created,
			Labels: labels("labelgate.tunnel.api.hostname", "api.example.com", "com.docker.stack.namespace", "stack"),
		}
		if diff := cmp.Diff(want, got); diff != "" || created.IsZero() {
			t.Errorf("service member (-want +got):\n%s (created %v)", diff, created)
		}
		if c := member(t, s, "web"); c.Kind != "" {
			t.Errorf("container web has kind %q, want none", c.Kind)
		}
		if st := h.rec.lastStatus(); !st.Connected || !st.Swarm || st.SwarmWhy != "the engine is an active Swarm manager" {
			t.Errorf("status = %+v, want connected, following services as a manager", st)
		}
	})
}

func TestSwarmServiceEventsFollowLabels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := manager()
		h := startWatcher(t, fc, testConfig())
		defer h.stop()
		wantNames(t, h.rec.last(t))

		id := fc.CreateService("app", labels("labelgate.tunnel.app.hostname", "app.example.com"))
		after(time.Second)
		wantNames(t, h.rec.last(t), "app")

		// docker service update --label-add
		fc.EditService(id, func(s *dockertest.Service) { s.Labels["labelgate.tunnel.app.path"] = "^/api" })
		after(time.Second)
		if got := member(t, h.rec.last(t), "app").Labels["labelgate.tunnel.app.path"]; got != "^/api" {
			t.Fatalf("after the label update the member has path %q, want ^/api", got)
		}

		// Scaled to 0 the service still exists: its claims stay and
		// nothing new is emitted.
		n := len(h.rec.emitted())
		fc.EditService(id, func(s *dockertest.Service) { s.Replicas = 0 })
		after(time.Second)
		if got := len(h.rec.emitted()); got != n {
			t.Errorf("scaling to 0 emitted %d new sets, want none", got-n)
		}
		wantNames(t, h.rec.last(t), "app")

		fc.RemoveService(id)
		after(time.Second)
		wantNames(t, h.rec.last(t))
		checkVersions(t, h.rec.emitted())
	})
}

func TestSwarmAutoOnANodeThatIsNotAManager(t *testing.T) {
	for _, tt := range []struct {
		name    string
		state   swarm.LocalNodeState
		manager bool
	}{
		{"no swarm", swarm.LocalNodeStateInactive, false},
		{"worker", swarm.LocalNodeStateActive, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fc := dockertest.New()
				fc.SetSwarm(tt.state, tt.manager)
				fc.Add("web", labels("labelgate.a", "b"))
				h := startWatcher(t, fc, testConfig())
				defer h.stop()
				wantNames(t, h.rec.last(t), "web")
				if list, info := fc.ServiceListCalls(); list != 0 || info != 1 {
					t.Errorf("ServiceList called %d times and Info %d, want 0 and 1", list, info)
				}
			})
		})
	}
}

func TestSwarmAutoNoticesANewSwarm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := dockertest.New()
		h := startWatcher(t, fc, testConfig())
		defer h.stop()
		wantNames(t, h.rec.last(t))

		// docker swarm init, then docker service create: the service event
		// makes the watcher ask again at once, not at the next poll.
		fc.SetSwarm(swarm.LocalNodeStateActive, true)
		fc.CreateService("app", labels("labelgate.a", "b"))
		after(time.Second)
		wantNames(t, h.rec.last(t), "app")
		if st := h.rec.lastStatus(); !st.Swarm {
			t.Errorf("status = %+v, want Swarm services followed", st)
		}

		// docker swarm leave: the next full re-list sees no manager and the
		// services leave the set (their claims then leave with the grace).
		fc.SetSwarm(swarm.LocalNodeStateInactive, false)
		after(testConfig().PollInterval)
		wantNames(t, h.rec.last(t))
		if st := h.rec.lastStatus(); st.Swarm || st.SwarmWhy != "the engine is not part of a swarm" || !st.Connected {
			t.Errorf("status = %+v, want connected, services not followed, saying why", st)
		}
	})
}

func TestSwarmTrueRequiresAManager(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := dockertest.New()
		fc.SetSwarm(swarm.LocalNodeStateActive, false) // a worker
		fc.Add("web", labels("labelgate.a", "b"))
		h := startWatcher(t, fc, swarmConfig(SwarmOn))
		defer h.stop()

		if got := h.rec.emitted(); len(got) != 0 {
			t.Fatalf("emitted %v on a worker with docker.swarm=true, want nothing", got)
		}
		st := h.rec.lastStatus()
		if st.Connected || st.LastError == nil {
			t.Fatalf("status = %+v, want disconnected with an error", st)
		}
		for _, w := range []string{"docker.swarm is true", "a Swarm worker, not a manager", "run on a manager node", "auto or false"} {
			if !strings.Contains(st.LastError.Error(), w) {
				t.Errorf("error %q does not say %q", st.LastError, w)
			}
		}

		// Promoted: the next attempt lists containers and services.
		fc.SetSwarm(swarm.LocalNodeStateActive, true)
		fc.CreateService("app", labels("labelgate.a", "b"))
		after(time.Second)
		wantNames(t, h.rec.last(t), "app", "web")
		if !h.rec.lastStatus().Connected {
			t.Errorf("status = %+v, want connected once the node is a manager", h.rec.lastStatus())
		}
	})
}

func TestSwarmFalseNeverAsks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := manager()
		fc.CreateService("app", labels("labelgate.a", "b"))
		fc.Add("web", labels("labelgate.a", "b"))
		h := startWatcher(t, fc, swarmConfig(SwarmOff))
		defer h.stop()
		after(testConfig().PollInterval)
		wantNames(t, h.rec.last(t), "web")
		if list, info := fc.ServiceListCalls(); list != 0 || info != 0 {
			t.Errorf("ServiceList called %d times and Info %d, want none", list, info)
		}
		for _, o := range fc.EventOptions() {
			if o.Filters["type"]["service"] {
				t.Errorf("subscribed to service events with docker.swarm=false")
			}
		}
	})
}

// A failure to list services, or a transient /info failure, is a failed
// observation: the last set (services included) stays, so a blip never
// reads as "the services are gone".
func TestSwarmFailuresKeepTheLastSet(t *testing.T) {
	for _, tt := range []struct {
		name    string
		breakIt func(fc *dockertest.Engine, err error)
		heal    func(fc *dockertest.Engine)
	}{
		{"service list", func(fc *dockertest.Engine, err error) { fc.SetServiceListError(err) }, func(fc *dockertest.Engine) { fc.SetServiceListError(nil) }},
		{"info", func(fc *dockertest.Engine, err error) { fc.SetInfoError(err) }, func(fc *dockertest.Engine) { fc.SetInfoError(nil) }},
		{"no leader", func(fc *dockertest.Engine, _ error) { fc.SetServiceListError(dockertest.ErrNotManager) }, func(fc *dockertest.Engine) { fc.SetServiceListError(nil) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fc := manager()
				fc.CreateService("app", labels("labelgate.a", "b"))
				h := startWatcher(t, fc, testConfig())
				defer h.stop()
				wantNames(t, h.rec.last(t), "app")

				boom := fmt.Errorf("manager busy: %w", cerrdefs.ErrInternal)
				tt.breakIt(fc, boom)
				after(testConfig().PollInterval) // a full re-list asks Info and lists
				if got := h.rec.emitted(); len(got) != 1 {
					t.Fatalf("emitted %d sets, want only the first", len(got))
				}
				if st := h.rec.lastStatus(); st.Connected || st.LastError == nil {
					t.Fatalf("status = %+v, want disconnected with the error", st)
				}
				tt.heal(fc)
				after(10 * time.Second)
				if !h.rec.lastStatus().Connected {
					t.Errorf("status = %+v, want connected again", h.rec.lastStatus())
				}
				if got := h.rec.emitted(); len(got) != 1 {
					t.Errorf("emitted %d sets after recovery, want none new (nothing changed)", len(got)-1)
				}
			})
		})
	}
}

// A socket proxy that refuses /info: auto reads it as "not a manager" and
// containers are still watched; true reports it.
func TestSwarmInfoRefused(t *testing.T) {
	refused := fmt.Errorf("403 Forbidden: %w", cerrdefs.ErrPermissionDenied)
	synctest.Test(t, func(t *testing.T) {
		fc := manager()
		fc.SetInfoError(refused)
		fc.CreateService("app", labels("labelgate.a", "b"))
		fc.Add("web", labels("labelgate.a", "b"))
		h := startWatcher(t, fc, testConfig())
		defer h.stop()
		wantNames(t, h.rec.last(t), "web")
		if !h.rec.lastStatus().Connected {
			t.Errorf("status = %+v, want connected", h.rec.lastStatus())
		}
	})
	synctest.Test(t, func(t *testing.T) {
		fc := manager()
		fc.SetInfoError(refused)
		h := startWatcher(t, fc, swarmConfig(SwarmOn))
		defer h.stop()
		if st := h.rec.lastStatus(); st.Connected || !errors.Is(st.LastError, cerrdefs.ErrPermissionDenied) {
			t.Errorf("status = %+v, want the refusal reported", st)
		}
	})
}

func TestSwarmFilterLabelAppliesToServices(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := manager()
		fc.CreateService("in", labels("labelgate.a", "b", "expose", "yes"))
		fc.CreateService("out", labels("labelgate.a", "b"))
		fc.CreateService("wrong", labels("labelgate.a", "b", "expose", "no"))
		cfg := testConfig()
		cfg.FilterLabel = "expose=yes"
		h := startWatcher(t, fc, cfg)
		defer h.stop()
		wantNames(t, h.rec.last(t), "in")
		// Service events carry no labels, so their subscription has no
		// label filter (the engine would drop every event).
		for _, o := range fc.EventOptions() {
			if o.Filters["type"]["service"] && len(o.Filters["label"]) != 0 {
				t.Errorf("service events subscribed with a label filter: %v", o.Filters)
			}
		}
	})
}

// A manager that restarts, is locked (autolock) or is in error still has
// its services: with auto, those states fail the observation (the last set
// stays, routes stay) instead of reading as "no swarm", and the error says
// what to do. The same for a refused /info once services were watched.
func TestSwarmUnsettledManagerKeepsServices(t *testing.T) {
	for _, tt := range []struct {
		name  string
		state swarm.LocalNodeState
		info  error
		want  string
	}{
		{"locked", swarm.LocalNodeStateLocked, nil, "docker swarm unlock"},
		{"pending", swarm.LocalNodeStatePending, nil, "state pending"},
		{"error", swarm.LocalNodeStateError, nil, "state error"},
		{"info refused after services were watched", swarm.LocalNodeStateActive, fmt.Errorf("403 Forbidden: %w", cerrdefs.ErrPermissionDenied), "Swarm manager"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fc := manager()
				fc.CreateService("app", labels("labelgate.a", "b"))
				fc.Add("web", labels("labelgate.a", "b"))
				h := startWatcher(t, fc, testConfig())
				defer h.stop()
				wantNames(t, h.rec.last(t), "app", "web")

				fc.SetSwarm(tt.state, true)
				fc.SetInfoError(tt.info)
				after(testConfig().PollInterval)
				if got := h.rec.emitted(); len(got) != 1 {
					t.Fatalf("emitted %v, want only the first set (the services kept)", got[1:])
				}
				st := h.rec.lastStatus()
				if st.Connected || st.LastError == nil || !strings.Contains(st.LastError.Error(), tt.want) {
					t.Fatalf("status = %+v, want disconnected with an error saying %q", st, tt.want)
				}

				fc.SetSwarm(swarm.LocalNodeStateActive, true)
				fc.SetInfoError(nil)
				after(10 * time.Second)
				if !h.rec.lastStatus().Connected || len(h.rec.emitted()) != 1 {
					t.Errorf("after recovery: status %+v, %d sets; want connected and nothing new", h.rec.lastStatus(), len(h.rec.emitted()))
				}
			})
		})
	}
}

// Starting on a locked manager, auto emits nothing at all rather than a set
// without the services.
func TestSwarmAutoStartOnALockedManager(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := dockertest.New()
		fc.SetSwarm(swarm.LocalNodeStateLocked, true)
		fc.Add("web", labels("labelgate.a", "b"))
		h := startWatcher(t, fc, testConfig())
		defer h.stop()
		if got := h.rec.emitted(); len(got) != 0 {
			t.Fatalf("emitted %v on a locked manager, want nothing", got)
		}
		if st := h.rec.lastStatus(); st.LastError == nil || !strings.Contains(st.LastError.Error(), "docker swarm unlock") {
			t.Fatalf("status = %+v, want the unlock advice", st)
		}
	})
}

// A container and a service of the same name: the service comes first in
// the set, whatever their IDs (the registry uses the first of a name).
func TestSwarmServiceSortsBeforeContainerOfItsName(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := manager()
		fc.Add("web", labels("labelgate.a", "b"))
		fc.CreateService("web", labels("labelgate.a", "c"))
		h := startWatcher(t, fc, testConfig())
		defer h.stop()
		s := h.rec.last(t)
		if len(s.Containers) != 2 || s.Containers[0].Kind != messages.KindService || s.Containers[1].Kind != "" {
			t.Fatalf("set %+v, want the service web before the container web", s.Containers)
		}
	})
}
