package dockerwatch

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/labelgate/labelgate/messages"
)

// Service events that can change the set: a service's labels change by
// update, and create/remove add and take one away. Scaling is an update
// too; it re-lists and finds nothing changed.
var serviceActions = []string{"create", "update", "remove"}

// serviceEventOptions follows service events. The label filter cannot
// apply: a service event's attributes carry the service's name, not its
// labels, so the engine would drop every one. The list applies it.
func serviceEventOptions(since string) client.EventsListOptions {
	f := make(client.Filters).Add("type", "service").Add("event", serviceActions...)
	return client.EventsListOptions{Since: since, Filters: f}
}

// swarmDecision is whether the engine's services are watched, and why.
type swarmDecision struct {
	on  bool
	why string // for the log when the decision changes
}

// decideSwarm asks the engine whether it is an active Swarm manager. An
// error is an observation that failed: the last set is kept and the
// watcher reconnects with backoff.
//
// Only two answers turn services off, and only with SwarmAuto: no swarm
// ("inactive") and a worker ("active" without control). A manager that is
// locked (autolock, until `docker swarm unlock`), still joining ("pending")
// or in error is a swarm whose services still exist: that is a failed
// observation, or its routes would leave while the node recovers. An
// engine or socket proxy that refuses /info (403, 401, 404, 501) reads as
// "not a manager" only while services were not watched; once they were,
// a refusal is a failed observation too. With SwarmOn everything but an
// active manager fails, with an error that says what to do.
func (o *observer) decideSwarm(ctx context.Context) (swarmDecision, error) {
	ictx, cancel := context.WithTimeout(ctx, callTimeout)
	res, err := o.client.Info(ictx, client.InfoOptions{})
	cancel()
	if err != nil {
		refused := cerrdefs.IsPermissionDenied(err) || cerrdefs.IsUnauthorized(err) ||
			cerrdefs.IsNotFound(err) || cerrdefs.IsNotImplemented(err)
		if o.cfg.Swarm == SwarmAuto && refused && !o.swarm.on {
			return swarmDecision{why: fmt.Sprintf("the engine refuses /info (%v), so Swarm services are not watched; allow INFO (and SERVICES) in a socket proxy, or set docker.swarm to false to stop asking", err)}, nil
		}
		return swarmDecision{}, fmt.Errorf("asking the Docker engine whether it is a Swarm manager: %w", err)
	}
	sw := res.Info.Swarm
	state := cmp.Or(sw.LocalNodeState, swarm.LocalNodeStateInactive)
	switch {
	case state == swarm.LocalNodeStateActive && sw.ControlAvailable:
		return swarmDecision{on: true, why: "the engine is an active Swarm manager"}, nil
	case state == swarm.LocalNodeStateLocked:
		return swarmDecision{}, fmt.Errorf("the Docker engine's Swarm is locked: run docker swarm unlock on this node (its services are kept meanwhile), or set docker.swarm to false")
	case state == swarm.LocalNodeStatePending || state == swarm.LocalNodeStateError:
		why := cmp.Or(sw.Error, "no detail given")
		return swarmDecision{}, fmt.Errorf("the Docker engine's Swarm is in state %s (%s); its services are kept until it is active again, or set docker.swarm to false", state, why)
	}
	role := "not part of a swarm"
	if state == swarm.LocalNodeStateActive {
		role = "a Swarm worker, not a manager"
	}
	if o.cfg.Swarm == SwarmOn {
		return swarmDecision{}, fmt.Errorf("docker.swarm is true, but the Docker engine is %s (swarm state %s): run on a manager node, or set docker.swarm to auto or false", role, state)
	}
	return swarmDecision{why: "the engine is " + role}, nil
}

// services lists the engine's Swarm services and returns the labelled ones
// as set members. Any error fails the whole observation.
func (o *observer) services(ctx context.Context) ([]messages.Container, error) {
	f := make(client.Filters)
	if o.cfg.FilterLabel != "" {
		f.Add("label", o.cfg.FilterLabel)
	}
	lctx, cancel := context.WithTimeout(ctx, callTimeout)
	res, err := o.client.ServiceList(lctx, client.ServiceListOptions{Filters: f})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("listing Swarm services: %w", err)
	}
	var out []messages.Container
	for _, s := range res.Items {
		if s.Spec.Name == "" || !o.labelled(s.Spec.Labels) {
			continue
		}
		out = append(out, serviceFrom(s))
	}
	return out, nil
}

// serviceFrom is a service as a set member: its name and spec labels,
// its Swarm mode as the state, and no networks (a service's virtual IPs
// live on overlay networks only the cluster can reach).
func serviceFrom(s swarm.Service) messages.Container {
	return messages.Container{
		Kind:    messages.KindService,
		ID:      s.ID,
		Name:    s.Spec.Name,
		Labels:  maps.Clone(s.Spec.Labels),
		State:   serviceMode(s.Spec.Mode),
		Created: s.CreatedAt.UTC(),
	}
}

func serviceMode(m swarm.ServiceMode) string {
	switch {
	case m.Global != nil:
		return "global"
	case m.ReplicatedJob != nil:
		return "replicated-job"
	case m.GlobalJob != nil:
		return "global-job"
	}
	return "replicated"
}

// labelled applies the filter-label and prefix rules to a label map.
func (o *observer) labelled(labels map[string]string) bool {
	if o.filterKey != "" {
		got, ok := labels[o.filterKey]
		if !ok || (o.filterHasValue && got != o.filterValue) {
			return false
		}
	}
	prefix := o.cfg.LabelPrefix + "."
	for k := range labels {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}
