package messages

import (
	"fmt"
	"time"
)

// Container is one labelled container as a source sees it: raw labels (only
// main parses them) plus what target resolution and conflict tie-breaks
// need. Values only: maps and slices are owned by whoever holds the value
// and are never mutated after it is sent.
//
// A Swarm service travels as a Container of Kind KindService: Name is the
// service's name, ID its service ID, Labels the service spec's labels
// (compose deploy.labels), State Swarm's mode (replicated, global…), and it
// has no networks, health or start time. Claims of a service and of a
// container are the same kind of claim; the registry decides between them.
type Container struct {
	// Kind is "" for a container, KindService for a Swarm service.
	Kind   string            `json:"kind,omitempty"`
	ID     string            `json:"id"`
	Name   string            `json:"name"` // without the leading slash
	Labels map[string]string `json:"labels"`
	// State is Docker's state word: running, restarting, paused, exited…
	// (a service's: its Swarm mode).
	State string `json:"state"`
	// Health is Docker's health status (healthy, unhealthy, starting) or
	// empty when the container has no health check.
	Health   string    `json:"health,omitempty"`
	Networks []Network `json:"networks,omitempty"` // sorted by name
	Created  time.Time `json:"created"`
	Started  time.Time `json:"started,omitempty"`
}

// KindService marks a Container that is a Swarm service.
const KindService = "service"

// Noun is how messages name c: "container web" or "Swarm service web".
func (c Container) Noun() string {
	if c.Kind == KindService {
		return "Swarm service " + c.Name
	}
	return "container " + c.Name
}

// Network is a container's attachment to one Docker network.
type Network struct {
	Name string `json:"name"`
	IPv4 string `json:"ipv4,omitempty"`
	IPv6 string `json:"ipv6,omitempty"`
}

// ContainerSet is a source's full, current set of labelled containers:
// level-triggered, so a lost message costs nothing once the next arrives.
// Version increases with every set a source sends; a receiver ignores a set
// whose version is not newer than the last one it applied from that source.
type ContainerSet struct {
	// Source names where the set comes from: "local" for main's own Docker
	// engine, "agent:<name>" for an agent.
	Source     string      `json:"source"`
	Version    uint64      `json:"version"`
	Containers []Container `json:"containers"` // sorted by name
	// ObservedAt is when the source listed its containers.
	ObservedAt time.Time `json:"observedAt"`
}

// LocalSource is the Source of main's own Docker engine.
const LocalSource = "local"

// AgentSource is the Source name of the agent called name.
func AgentSource(name string) string { return "agent:" + name }

func (s ContainerSet) String() string {
	return fmt.Sprintf("%s v%d (%d containers)", s.Source, s.Version, len(s.Containers))
}
