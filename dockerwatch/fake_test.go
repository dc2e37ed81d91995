package dockerwatch

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// fakeClient is an in-memory engine: containers the test edits, event
// streams that honour the engine's filters, and switches for failures.
// Safe for concurrent use.
type fakeClient struct {
	mu         sync.Mutex
	containers map[string]*fakeContainer
	streams    []*fakeStream
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
	eventOpts    []client.EventsListOptions
	closed       bool
}

type fakeContainer struct {
	id, name string
	labels   map[string]string
	state    container.ContainerState
	health   container.HealthStatus // "" = no health check
	networks map[string]string      // name → IPv4
	created  time.Time
	started  time.Time
}

type fakeStream struct {
	opts client.EventsListOptions
	in   chan events.Message
	fail chan error
}

var _ Client = (*fakeClient)(nil)

func newFakeClient() *fakeClient {
	return &fakeClient{containers: map[string]*fakeContainer{}, inspectGone: map[string]bool{}}
}

// add creates a running container without any event (as if it existed
// before the watcher started, or the event was lost) and returns its ID.
func (f *fakeClient) add(name string, labels map[string]string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	id := fmt.Sprintf("%064x", f.nextID)
	now := time.Now().UTC()
	f.containers[id] = &fakeContainer{
		id:       id,
		name:     name,
		labels:   labels,
		state:    container.StateRunning,
		networks: map[string]string{"bridge": fmt.Sprintf("172.17.0.%d", f.nextID+1)},
		created:  now.Add(-time.Second),
		started:  now,
	}
	return id
}

// start adds a running container and publishes its start event.
func (f *fakeClient) start(name string, labels map[string]string) string {
	id := f.add(name, labels)
	f.publishContainer(id, "start")
	return id
}

// edit changes a container under the lock; no event.
func (f *fakeClient) edit(id string, fn func(c *fakeContainer)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f.containers[id])
}

// stop makes the container exited and publishes die, then stop (the
// engine's order).
func (f *fakeClient) stop(id string) {
	f.edit(id, func(c *fakeContainer) { c.state = container.StateExited })
	f.publishContainer(id, "die")
	f.publishContainer(id, "stop")
}

// remove deletes the container and publishes destroy.
func (f *fakeClient) remove(id string) {
	f.publishContainer(id, "destroy")
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.containers, id)
}

func (f *fakeClient) rename(id, name string) {
	f.edit(id, func(c *fakeContainer) { c.name = name })
	f.publishContainer(id, "rename")
}

func (f *fakeClient) setHealth(id string, h container.HealthStatus) {
	f.edit(id, func(c *fakeContainer) { c.health = h })
	f.publishContainer(id, events.Action("health_status: "+string(h)))
}

func (f *fakeClient) connect(id, net, ip string) {
	f.edit(id, func(c *fakeContainer) { c.networks[net] = ip })
	f.publish(events.Message{
		Type:   events.NetworkEventType,
		Action: events.ActionConnect,
		Actor:  events.Actor{ID: "net-" + net, Attributes: map[string]string{"container": id, "name": net}},
	})
}

// publishContainer sends a container event carrying name and labels, as
// the engine does for every action.
func (f *fakeClient) publishContainer(id string, action events.Action) {
	f.mu.Lock()
	c := f.containers[id]
	attrs := maps.Clone(c.labels)
	if attrs == nil {
		attrs = map[string]string{}
	}
	attrs["name"] = c.name
	f.mu.Unlock()
	f.publish(events.Message{
		Type:   events.ContainerEventType,
		Action: action,
		Actor:  events.Actor{ID: id, Attributes: attrs},
	})
}

// publish delivers m to every open stream whose filters match.
func (f *fakeClient) publish(m events.Message) {
	now := time.Now()
	m.Time, m.TimeNano = now.Unix(), now.UnixNano()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.streams {
		if eventMatches(s.opts.Filters, m) {
			select {
			case s.in <- m:
			default:
				panic("fake event stream buffer is full")
			}
		}
	}
}

// breakStreams ends every open stream with err, like a daemon going away.
func (f *fakeClient) breakStreams(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.streams {
		s.fail <- err
	}
	f.streams = nil
}

func (f *fakeClient) openStreams() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.streams)
}

func (f *fakeClient) set(fn func(f *fakeClient)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeClient) counts() (ping, list, inspect int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pingCalls, f.listCalls, f.inspectCalls
}

func (f *fakeClient) Ping(ctx context.Context, _ client.PingOptions) (client.PingResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pingCalls++
	if f.pingErr != nil {
		return client.PingResult{}, f.pingErr
	}
	return client.PingResult{APIVersion: "1.41", OSType: "linux"}, ctx.Err()
}

func (f *fakeClient) ContainerList(ctx context.Context, opts client.ContainerListOptions) (client.ContainerListResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listCalls++
	f.listOpts = append(f.listOpts, opts)
	if f.listErr != nil {
		return client.ContainerListResult{}, f.listErr
	}
	if err := ctx.Err(); err != nil {
		return client.ContainerListResult{}, err
	}
	var out client.ContainerListResult
	for _, id := range slices.Sorted(maps.Keys(f.containers)) {
		c := f.containers[id]
		if !opts.All && c.state != container.StateRunning && c.state != container.StatePaused && c.state != container.StateRestarting {
			continue
		}
		if st := opts.Filters["status"]; len(st) > 0 && !st[string(c.state)] {
			continue
		}
		if !labelsMatch(opts.Filters["label"], c.labels) {
			continue
		}
		s := container.Summary{
			ID:              c.id,
			Names:           []string{"/" + c.name},
			Labels:          maps.Clone(c.labels),
			State:           c.state,
			Created:         c.created.Unix(),
			NetworkSettings: &container.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{}},
		}
		for name, ip := range c.networks {
			s.NetworkSettings.Networks[name] = &network.EndpointSettings{IPAddress: netip.MustParseAddr(ip)}
		}
		out.Items = append(out.Items, s)
	}
	return out, nil
}

func (f *fakeClient) ContainerInspect(ctx context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inspectCalls++
	if f.inspectErr != nil {
		return client.ContainerInspectResult{}, f.inspectErr
	}
	c, ok := f.containers[id]
	if !ok || f.inspectGone[id] {
		return client.ContainerInspectResult{}, fmt.Errorf("no such container: %s: %w", id, cerrdefs.ErrNotFound)
	}
	st := &container.State{
		Status:    c.state,
		Running:   c.state == container.StateRunning,
		StartedAt: c.started.Format(time.RFC3339Nano),
	}
	if c.health != "" {
		st.Health = &container.Health{Status: c.health}
	}
	return client.ContainerInspectResult{Container: container.InspectResponse{
		ID:      c.id,
		Name:    "/" + c.name,
		Created: c.created.Format(time.RFC3339Nano),
		State:   st,
		Config:  &container.Config{Labels: maps.Clone(c.labels)},
	}}, ctx.Err()
}

func (f *fakeClient) Events(ctx context.Context, opts client.EventsListOptions) client.EventsResult {
	msgs := make(chan events.Message)
	errs := make(chan error, 1)
	s := &fakeStream{opts: opts, in: make(chan events.Message, 1024), fail: make(chan error, 1)}
	f.mu.Lock()
	f.eventOpts = append(f.eventOpts, opts)
	f.streams = append(f.streams, s)
	f.mu.Unlock()
	go func() {
		defer close(errs)
		defer f.dropStream(s)
		for {
			select {
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			case err := <-s.fail:
				errs <- err
				return
			case m := <-s.in:
				select {
				case msgs <- m:
				case <-ctx.Done():
					errs <- ctx.Err()
					return
				}
			}
		}
	}()
	return client.EventsResult{Messages: msgs, Err: errs}
}

func (f *fakeClient) dropStream(s *fakeStream) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.streams = slices.DeleteFunc(f.streams, func(x *fakeStream) bool { return x == s })
}

func (f *fakeClient) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// eventMatches applies the engine's event filters: every term must match;
// within a term any value may. health_status matches by prefix, as the
// engine does.
func eventMatches(filters client.Filters, m events.Message) bool {
	if t := filters["type"]; len(t) > 0 && !t[string(m.Type)] {
		return false
	}
	if ev := filters["event"]; len(ev) > 0 && !ev[string(m.Action)] {
		if !ev["health_status"] || !strings.HasPrefix(string(m.Action), "health_status") {
			return false
		}
	}
	return labelsMatch(filters["label"], m.Actor.Attributes)
}

// labelsMatch applies "label" filter values ("key" or "key=value"); all of
// them must match, as in the engine.
func labelsMatch(values map[string]bool, labels map[string]string) bool {
	for v := range values {
		k, want, hasValue := strings.Cut(v, "=")
		got, ok := labels[k]
		if !ok || (hasValue && got != want) {
			return false
		}
	}
	return true
}
