package dockerwatch

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/labelgate/labelgate/messages"
)

// observer turns one ContainerList (plus an inspect where the list summary
// is not enough) into the labelled-container set. It is owned by one Run
// goroutine.
//
// The list summary carries ID, names, labels, state and networks with their
// IPs on every API version the client speaks. Created/started times and
// health come from inspect: the summary only has health from API 1.52 on,
// and has no start time at all. Inspect results are cached per container
// and refreshed when the container is new, when an event named it, when
// its list state changed, and on every full observation (reconnect, poll).
type observer struct {
	client Client
	cfg    Config

	// The filter label, split once.
	filterKey, filterValue string
	filterHasValue         bool

	details map[string]details // by container ID
	stale   map[string]bool    // IDs named by events since the last observation

	// swarm is the last decision about Swarm services, made on every full
	// observation unless cfg.Swarm is off; decided says one was made.
	swarm   swarmDecision
	decided bool
	recheck bool // a service event arrived while services were not watched
	logger  *slog.Logger
}

// details is what inspect adds to the list summary.
type details struct {
	state   container.ContainerState // list state when inspected
	created time.Time
	started time.Time
	health  string
}

// Every container that can be running a workload; "created", "exited",
// "dead" and "removing" ones are absent from the set.
var listedStates = []string{
	string(container.StateRunning),
	string(container.StateRestarting),
	string(container.StatePaused),
}

// Container events that can change the set or a member's details.
var containerActions = []string{
	"start", "die", "stop", "destroy", "rename", "update",
	"health_status", // the engine matches "health_status: healthy" etc. by prefix
	"pause", "unpause",
}

// newObserver expects a validated cfg.
func newObserver(c Client, cfg Config, logger *slog.Logger) *observer {
	o := &observer{
		client:  c,
		cfg:     cfg,
		logger:  logger,
		details: map[string]details{},
		stale:   map[string]bool{},
	}
	if cfg.FilterLabel != "" {
		o.filterKey, o.filterValue, o.filterHasValue, _ = parseFilterLabel(cfg.FilterLabel)
	}
	return o
}

func (o *observer) listOptions() client.ContainerListOptions {
	f := make(client.Filters).Add("status", listedStates...)
	if o.cfg.FilterLabel != "" {
		f.Add("label", o.cfg.FilterLabel)
	}
	return client.ContainerListOptions{All: true, Filters: f}
}

func (o *observer) containerEventOptions(since string) client.EventsListOptions {
	f := make(client.Filters).Add("type", "container").Add("event", containerActions...)
	if o.cfg.FilterLabel != "" {
		f.Add("label", o.cfg.FilterLabel)
	}
	return client.EventsListOptions{Since: since, Filters: f}
}

// networkEventOptions follows network connect/disconnect, which change a
// running container's networks and IPs without any container event. The
// label filter cannot apply here (it would match network labels), so the
// watcher drops events for containers outside its set.
func (o *observer) networkEventOptions(since string) client.EventsListOptions {
	f := make(client.Filters).Add("type", "network").Add("event", "connect", "disconnect")
	return client.EventsListOptions{Since: since, Filters: f}
}

// markStale makes the next observation re-inspect id.
func (o *observer) markStale(id string) {
	if id != "" {
		o.stale[id] = true
	}
}

// serviceEvent notes a service event: an engine that was not a manager
// when last asked and now sends one has joined or formed a swarm, so the
// next observation asks again.
func (o *observer) serviceEvent() {
	if !o.swarm.on {
		o.recheck = true
	}
}

// known reports whether id was in the last observed set.
func (o *observer) known(id string) bool {
	_, ok := o.details[id]
	return ok
}

// observe lists containers (and Swarm services, when watched) and returns
// the labelled set sorted by name. full re-inspects every member and asks
// again whether the engine is a Swarm manager. Any error means the
// observation failed as a whole: the caller must not read it as "no
// containers".
func (o *observer) observe(ctx context.Context, full bool) ([]messages.Container, error) {
	if o.cfg.Swarm != SwarmOff && (full || !o.decided || o.recheck) {
		d, err := o.decideSwarm(ctx)
		if err != nil {
			return nil, err
		}
		switch {
		case d.on && (!o.decided || !o.swarm.on):
			o.logger.Info("following Swarm services", "why", d.why)
		case !d.on && o.swarm.on:
			// The services leave the set, and their routes leave with the
			// grace: say so loudly.
			o.logger.Warn("no longer following Swarm services; their claims leave with the grace", "why", d.why)
		case !d.on && !o.decided:
			level := slog.LevelInfo
			if strings.Contains(d.why, "refuses /info") {
				level = slog.LevelWarn // a proxy may be hiding a manager's services
			}
			o.logger.Log(ctx, level, "not following Swarm services", "why", d.why)
		}
		o.swarm, o.decided, o.recheck = d, true, false
	}
	var services []messages.Container
	if o.swarm.on {
		var err error
		if services, err = o.services(ctx); err != nil {
			return nil, err
		}
	}

	lctx, cancel := context.WithTimeout(ctx, callTimeout)
	res, err := o.client.ContainerList(lctx, o.listOptions())
	cancel()
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}

	next := make(map[string]details, len(o.details))
	set := make([]messages.Container, 0, len(res.Items))
	for _, s := range res.Items {
		if !o.selected(s) {
			continue
		}
		d, ok := o.details[s.ID]
		if full || !ok || o.stale[s.ID] || d.state != s.State {
			var found bool
			d, found, err = o.inspect(ctx, s.ID)
			if err != nil {
				return nil, err
			}
			if !found {
				continue // removed between list and inspect: its destroy event follows
			}
			d.state = s.State
		}
		next[s.ID] = d
		set = append(set, containerFrom(s, d))
	}
	o.details = next
	clear(o.stale)
	set = append(set, services...)
	// By name; a Swarm service before a container of the same name (the
	// registry uses the first member of a name), then by ID.
	slices.SortFunc(set, func(a, b messages.Container) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), -cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.ID, b.ID))
	})
	return set, nil
}

// selected applies the state, filter-label and prefix rules. The engine
// already applied the first two; checking again keeps a misbehaving proxy
// in front of the socket from widening the set.
func (o *observer) selected(s container.Summary) bool {
	return slices.Contains(listedStates, string(s.State)) && o.labelled(s.Labels)
}

// inspect returns the container's details; found is false when the
// container no longer exists.
func (o *observer) inspect(ctx context.Context, id string) (d details, found bool, err error) {
	ictx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	res, err := o.client.ContainerInspect(ictx, id, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return details{}, false, nil
	}
	if err != nil {
		return details{}, false, fmt.Errorf("inspecting container %s: %w", shortID(id), err)
	}
	c := res.Container
	d.created = parseDockerTime(c.Created)
	if c.State != nil {
		d.started = parseDockerTime(c.State.StartedAt)
		if c.State.Health != nil && c.State.Health.Status != container.NoHealthcheck {
			d.health = string(c.State.Health.Status)
		}
	}
	return d, true, nil
}

func containerFrom(s container.Summary, d details) messages.Container {
	created := d.created
	if created.IsZero() && s.Created > 0 {
		created = time.Unix(s.Created, 0).UTC()
	}
	return messages.Container{
		ID:       s.ID,
		Name:     primaryName(s.Names),
		Labels:   maps.Clone(s.Labels),
		State:    string(s.State),
		Health:   d.health,
		Networks: networksFrom(s.NetworkSettings),
		Created:  created,
		Started:  d.started,
	}
}

// primaryName picks the container's own name: the list also reports legacy
// link aliases such as "/web/db", which contain a second slash.
func primaryName(names []string) string {
	for _, n := range names {
		n = strings.TrimPrefix(n, "/")
		if !strings.Contains(n, "/") {
			return n
		}
	}
	if len(names) > 0 {
		return strings.TrimPrefix(names[0], "/")
	}
	return ""
}

func networksFrom(ns *container.NetworkSettingsSummary) []messages.Network {
	if ns == nil || len(ns.Networks) == 0 {
		return nil
	}
	out := make([]messages.Network, 0, len(ns.Networks))
	for _, name := range slices.Sorted(maps.Keys(ns.Networks)) {
		n := messages.Network{Name: name}
		if ep := ns.Networks[name]; ep != nil {
			if ep.IPAddress.IsValid() {
				n.IPv4 = ep.IPAddress.String()
			}
			if ep.GlobalIPv6Address.IsValid() {
				n.IPv6 = ep.GlobalIPv6Address.String()
			}
		}
		out = append(out, n)
	}
	return out
}

// parseDockerTime reads the engine's RFC 3339 timestamps; the engine's
// "never" (0001-01-01T00:00:00Z) and anything unreadable become zero.
func parseDockerTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// sameContainers reports whether two sorted sets carry the same data.
func sameContainers(a, b []messages.Container) bool {
	return slices.EqualFunc(a, b, func(x, y messages.Container) bool {
		return x.ID == y.ID &&
			x.Kind == y.Kind &&
			x.Name == y.Name &&
			x.State == y.State &&
			x.Health == y.Health &&
			x.Created.Equal(y.Created) &&
			x.Started.Equal(y.Started) &&
			maps.Equal(x.Labels, y.Labels) &&
			slices.Equal(x.Networks, y.Networks)
	})
}
