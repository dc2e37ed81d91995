package dockertest

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// Ping answers like an engine with API 1.41 on Linux.
func (e *Engine) Ping(ctx context.Context, _ client.PingOptions) (client.PingResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pingCalls++
	if e.pingErr != nil {
		return client.PingResult{}, e.pingErr
	}
	return client.PingResult{APIVersion: "1.41", OSType: "linux"}, ctx.Err()
}

// ContainerList returns the matching containers sorted by ID. Without All
// only running, paused and restarting containers are listed, as in the
// engine.
func (e *Engine) ContainerList(ctx context.Context, opts client.ContainerListOptions) (client.ContainerListResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.listCalls++
	e.listOpts = append(e.listOpts, opts)
	if e.listErr != nil {
		return client.ContainerListResult{}, e.listErr
	}
	if err := ctx.Err(); err != nil {
		return client.ContainerListResult{}, err
	}
	var out client.ContainerListResult
	for _, id := range slices.Sorted(maps.Keys(e.containers)) {
		c := e.containers[id]
		if !opts.All && c.State != container.StateRunning && c.State != container.StatePaused && c.State != container.StateRestarting {
			continue
		}
		if st := opts.Filters["status"]; len(st) > 0 && !st[string(c.State)] {
			continue
		}
		if !labelsMatch(opts.Filters["label"], c.Labels) {
			continue
		}
		s := container.Summary{
			ID:              c.ID,
			Names:           []string{"/" + c.Name},
			Labels:          maps.Clone(c.Labels),
			State:           c.State,
			Created:         c.Created.Unix(),
			NetworkSettings: &container.NetworkSettingsSummary{Networks: map[string]*network.EndpointSettings{}},
		}
		for name, ip := range c.Networks {
			s.NetworkSettings.Networks[name] = &network.EndpointSettings{IPAddress: netip.MustParseAddr(ip)}
		}
		out.Items = append(out.Items, s)
	}
	return out, nil
}

// ContainerInspect answers State, Created, Name and Config.Labels, or an
// error matching cerrdefs.IsNotFound for an unknown (or SetInspectGone)
// container.
func (e *Engine) ContainerInspect(ctx context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.inspectCalls++
	if e.inspectErr != nil {
		return client.ContainerInspectResult{}, e.inspectErr
	}
	c, ok := e.containers[id]
	if !ok || e.inspectGone[id] {
		return client.ContainerInspectResult{}, fmt.Errorf("no such container: %s: %w", id, cerrdefs.ErrNotFound)
	}
	st := &container.State{
		Status:    c.State,
		Running:   c.State == container.StateRunning,
		StartedAt: c.Started.Format(time.RFC3339Nano),
	}
	if c.Health != "" {
		st.Health = &container.Health{Status: c.Health}
	}
	return client.ContainerInspectResult{Container: container.InspectResponse{
		ID:      c.ID,
		Name:    "/" + c.Name,
		Created: c.Created.Format(time.RFC3339Nano),
		State:   st,
		Config:  &container.Config{Labels: maps.Clone(c.Labels)},
	}}, ctx.Err()
}

// Close records the call; the engine keeps working, as the fake has no
// connection to lose.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	return nil
}
