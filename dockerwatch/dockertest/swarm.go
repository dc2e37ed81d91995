package dockertest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
)

// Service is the engine's record of one Swarm service.
type Service struct {
	ID       string // the engine's key, never changed
	Name     string
	Labels   map[string]string // the service spec's labels
	Replicas uint64
	Global   bool
	Created  time.Time
}

// ErrNotManager is what ServiceList answers on an engine that is not an
// active Swarm manager, as the engine does (503, "This node is not a swarm
// manager…").
var ErrNotManager = fmt.Errorf("This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.: %w", cerrdefs.ErrUnavailable) //nolint:staticcheck // the engine's own wording

// SetSwarm sets what Info reports: the node's Swarm state ("inactive",
// "active", …) and whether it is a manager. A new engine is "inactive".
func (e *Engine) SetSwarm(state swarm.LocalNodeState, manager bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.swarmState, e.swarmManager = state, manager
}

// SetInfoError makes every Info fail with err; nil clears it.
func (e *Engine) SetInfoError(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.infoErr = err
}

// SetServiceListError makes every ServiceList fail with err; nil clears it.
func (e *Engine) SetServiceListError(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.serviceListErr = err
}

// CreateService adds a replicated service with one replica and publishes
// its create event; it returns the service's ID.
func (e *Engine) CreateService(name string, labels map[string]string) string {
	e.mu.Lock()
	e.nextID++
	id := fmt.Sprintf("svc%022d", e.nextID)
	e.services[id] = &Service{ID: id, Name: name, Labels: maps.Clone(labels), Replicas: 1, Created: time.Now().UTC()}
	e.mu.Unlock()
	e.publishService(id, "create")
	return id
}

// EditService changes a service under the engine's lock and publishes its
// update event, as `docker service update` does. It panics if there is no
// such service.
func (e *Engine) EditService(id string, fn func(s *Service)) {
	e.mu.Lock()
	s, ok := e.services[id]
	if !ok {
		e.mu.Unlock()
		panic(fmt.Sprintf("dockertest: no service %q", id))
	}
	fn(s)
	e.mu.Unlock()
	e.publishService(id, "update")
}

// RemoveService publishes the service's remove event and deletes it.
func (e *Engine) RemoveService(id string) {
	e.publishService(id, "remove")
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.services, id)
}

// ServiceListCalls is how many times ServiceList was called, failed calls
// included; InfoCalls the same for Info.
func (e *Engine) ServiceListCalls() (list, info int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.serviceListCalls, e.infoCalls
}

// Info answers the Swarm part of /info.
func (e *Engine) Info(ctx context.Context, _ client.InfoOptions) (client.SystemInfoResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.infoCalls++
	if e.infoErr != nil {
		return client.SystemInfoResult{}, e.infoErr
	}
	info := system.Info{OSType: "linux", Swarm: swarm.Info{LocalNodeState: cmpState(e.swarmState), ControlAvailable: e.swarmManager}}
	return client.SystemInfoResult{Info: info}, ctx.Err()
}

// ServiceList answers the services sorted by ID, applying "label" filters;
// on an engine that is not an active manager it answers ErrNotManager.
func (e *Engine) ServiceList(ctx context.Context, opts client.ServiceListOptions) (client.ServiceListResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.serviceListCalls++
	if e.serviceListErr != nil {
		return client.ServiceListResult{}, e.serviceListErr
	}
	if e.swarmState != swarm.LocalNodeStateActive || !e.swarmManager {
		return client.ServiceListResult{}, ErrNotManager
	}
	if err := ctx.Err(); err != nil {
		return client.ServiceListResult{}, err
	}
	var out client.ServiceListResult
	for _, id := range slices.Sorted(maps.Keys(e.services)) {
		s := e.services[id]
		if !labelsMatch(opts.Filters["label"], s.Labels) {
			continue
		}
		svc := swarm.Service{ID: s.ID, Meta: swarm.Meta{CreatedAt: s.Created, UpdatedAt: s.Created}}
		svc.Spec.Name, svc.Spec.Labels = s.Name, maps.Clone(s.Labels)
		if s.Global {
			svc.Spec.Mode.Global = &swarm.GlobalService{}
		} else {
			n := s.Replicas
			svc.Spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &n}
		}
		out.Items = append(out.Items, svc)
	}
	return out, nil
}

// publishService sends a service event carrying the service's name, as
// the engine does (no labels: the engine's service events have none).
func (e *Engine) publishService(id string, action events.Action) {
	e.mu.Lock()
	s, ok := e.services[id]
	if !ok {
		e.mu.Unlock()
		panic(fmt.Sprintf("dockertest: no service %q", id))
	}
	name := s.Name
	e.mu.Unlock()
	e.publish(events.Message{
		Type:   events.ServiceEventType,
		Action: action,
		Actor:  events.Actor{ID: id, Attributes: map[string]string{"name": name}},
	})
}

func cmpState(s swarm.LocalNodeState) swarm.LocalNodeState {
	if s == "" {
		return swarm.LocalNodeStateInactive
	}
	return s
}
