package dockertest

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// Engine is an in-memory Docker engine. The zero value is not ready; use
// New.
type Engine struct {
	mu         sync.Mutex
	containers map[string]*Container
	streams    []*stream
	nextID     int

	pingErr    error
	listErr    error
	inspectErr error
	// inspectGone makes inspect of these IDs answer "not found".
	inspectGone map[string]bool

	pingCalls    int
	listCalls    int
	inspectCalls int
	listOpts     []client.ContainerListOptions

	services                    map[string]*Service
	swarmState                  swarm.LocalNodeState
	swarmManager                bool
	infoErr, serviceListErr     error
	infoCalls, serviceListCalls int
	eventOpts                   []client.EventsListOptions
	closed                      bool
}

// Container is the engine's record of one container. Edit hands out a
// pointer to it; Get returns a copy.
type Container struct {
	ID       string // never changed through Edit: it is the engine's key
	Name     string // without the leading "/"
	Labels   map[string]string
	State    container.ContainerState
	Health   container.HealthStatus // "" = no health check
	Networks map[string]string      // network name → IPv4
	Created  time.Time
	Started  time.Time
}

func (c *Container) clone() Container {
	out := *c
	out.Labels = maps.Clone(c.Labels)
	out.Networks = maps.Clone(c.Networks)
	return out
}

// New returns an engine with no containers.
func New() *Engine {
	return &Engine{containers: map[string]*Container{}, inspectGone: map[string]bool{}, services: map[string]*Service{}}
}

// Add creates a running container without any event (as if it existed
// before the code under test subscribed, or the event was lost) and
// returns its ID. It was created a second ago and started now; it is on
// the "bridge" network with an address of its own.
func (e *Engine) Add(name string, labels map[string]string) string {
	return e.AddAt(name, labels, time.Now().UTC().Add(-time.Second))
}

// AddAt is Add with the given creation time, for tests that order
// containers by it.
func (e *Engine) AddAt(name string, labels map[string]string, created time.Time) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.nextID++
	id := fmt.Sprintf("%064x", e.nextID)
	e.containers[id] = &Container{
		ID:       id,
		Name:     name,
		Labels:   maps.Clone(labels),
		State:    container.StateRunning,
		Networks: map[string]string{"bridge": bridgeAddr(e.nextID + 1).String()},
		Created:  created,
		Started:  time.Now().UTC(),
	}
	return id
}

// bridgeAddr is the n-th address in 172.17.0.0/16 (172.17.0.n for n < 256),
// moving on to 172.18… past 65535 containers.
func bridgeAddr(n int) netip.Addr {
	return netip.AddrFrom4([4]byte{172, byte(17 + n>>16), byte(n >> 8), byte(n)})
}

// Start adds a running container (see Add) and publishes its start event.
func (e *Engine) Start(name string, labels map[string]string) string {
	id := e.Add(name, labels)
	e.publishContainer(id, "start")
	return id
}

// StartAt is Start with the given creation time.
func (e *Engine) StartAt(name string, labels map[string]string, created time.Time) string {
	id := e.AddAt(name, labels, created)
	e.publishContainer(id, "start")
	return id
}

// Edit changes a container under the engine's lock, without any event.
// fn must not keep the pointer or change the ID. It panics if there is no
// such container.
func (e *Engine) Edit(id string, fn func(c *Container)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fn(e.mustGet(id))
}

// Get returns a copy of the container and whether it exists.
func (e *Engine) Get(id string) (Container, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.containers[id]
	if !ok {
		return Container{}, false
	}
	return c.clone(), true
}

// Stop makes the container exited and publishes die, then stop (the
// engine's order).
func (e *Engine) Stop(id string) {
	e.Edit(id, func(c *Container) { c.State = container.StateExited })
	e.publishContainer(id, "die")
	e.publishContainer(id, "stop")
}

// Remove publishes destroy and deletes the container.
func (e *Engine) Remove(id string) {
	e.publishContainer(id, "destroy")
	e.RemoveSilently(id)
}

// RemoveSilently deletes the container without any event, as if it went
// while nobody was subscribed.
func (e *Engine) RemoveSilently(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.containers, id)
	delete(e.inspectGone, id)
}

// Rename renames the container and publishes rename.
func (e *Engine) Rename(id, name string) {
	e.Edit(id, func(c *Container) { c.Name = name })
	e.publishContainer(id, "rename")
}

// SetHealth sets the container's health ("starting", "healthy",
// "unhealthy") and publishes "health_status: <health>".
func (e *Engine) SetHealth(id, health string) {
	e.Edit(id, func(c *Container) { c.Health = container.HealthStatus(health) })
	e.publishContainer(id, events.Action("health_status: "+health))
}

// Connect attaches the container to network with the IPv4 address ip and
// publishes the network's connect event.
func (e *Engine) Connect(id, network, ip string) {
	e.Edit(id, func(c *Container) {
		if c.Networks == nil {
			c.Networks = map[string]string{}
		}
		c.Networks[network] = ip
	})
	e.publishNetwork(id, network)
}

// SetPingError makes every Ping fail with err; nil clears it.
func (e *Engine) SetPingError(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pingErr = err
}

// SetListError makes every ContainerList fail with err; nil clears it.
func (e *Engine) SetListError(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.listErr = err
}

// SetInspectError makes every ContainerInspect fail with err; nil clears
// it.
func (e *Engine) SetInspectError(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.inspectErr = err
}

// SetInspectGone makes ContainerInspect of id answer "not found" while the
// list still shows it, like a container removed between the two calls.
func (e *Engine) SetInspectGone(id string, gone bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if gone {
		e.inspectGone[id] = true
	} else {
		delete(e.inspectGone, id)
	}
}

// Counts returns how many times Ping, ContainerList and ContainerInspect
// have been called, failed calls included.
func (e *Engine) Counts() (ping, list, inspect int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pingCalls, e.listCalls, e.inspectCalls
}

// ListOptions returns the options of every ContainerList call, oldest
// first.
func (e *Engine) ListOptions() []client.ContainerListOptions {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.listOpts)
}

// EventOptions returns the options of every Events call, oldest first.
func (e *Engine) EventOptions() []client.EventsListOptions {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.eventOpts)
}

// Closed reports whether Close has been called.
func (e *Engine) Closed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// mustGet is the container with id; the caller holds e.mu. A helper given
// an unknown ID is a bug in the test, so it panics with the ID.
func (e *Engine) mustGet(id string) *Container {
	c, ok := e.containers[id]
	if !ok {
		panic(fmt.Sprintf("dockertest: no container %q", id))
	}
	return c
}
