package dockerwatch

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/labelgate/labelgate/messages"
)

// Defaults used where a Config field is zero.
const (
	DefaultEndpoint       = "unix:///var/run/docker.sock"
	DefaultLabelPrefix    = "labelgate"
	DefaultPollInterval   = 2 * time.Minute
	DefaultDebounce       = 500 * time.Millisecond
	DefaultBackoffInitial = 500 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
	DefaultBackoffJitter  = 0.2
)

// maxDebounceFactor caps how long a continuous stream of events can delay a
// re-list: at most this many debounce windows after the first event.
const maxDebounceFactor = 5

// callTimeout bounds every single request to the engine (ping, list,
// inspect) so a hung daemon turns into an error and a reconnect instead of
// a watcher that silently stops observing.
const callTimeout = 30 * time.Second

// Config says which engine to watch and which containers count. The zero
// value of every field means its default.
type Config struct {
	// Endpoint is unix:///path/to/docker.sock or tcp://host:port.
	Endpoint string
	// TLSCA, TLSCert and TLSKey are PEM file paths, only for tcp://. Setting
	// any of them turns TLS on; a CA replaces the system roots; cert and key
	// go together (client authentication).
	TLSCA, TLSCert, TLSKey string

	// FilterLabel is "key" or "key=value". When set, only containers
	// carrying it are listed and only their events are followed; the filter
	// runs in the engine.
	FilterLabel string
	// LabelPrefix selects containers: a container is in the set only when it
	// carries at least one label whose key starts with LabelPrefix + ".".
	LabelPrefix string

	// Swarm says whether the services of the engine's Swarm are a source
	// too (see SwarmMode); "" means SwarmAuto.
	Swarm SwarmMode

	// Source is copied into every ContainerSet (default messages.LocalSource).
	Source string

	// PollInterval is the period of the full re-list (and re-inspect) that
	// runs even when no event arrives: the safety net for lost events and a
	// liveness check of the connection.
	PollInterval time.Duration
	// Debounce is the quiet period after an event before the re-list; a
	// continuous stream still re-lists every 5×Debounce.
	Debounce time.Duration

	Backoff BackoffConfig
}

// SwarmMode says whether Swarm services are watched beside containers.
type SwarmMode string

const (
	// SwarmAuto watches services while the engine is an active Swarm
	// manager, decided at every full re-list. An engine (or a socket proxy)
	// that refuses /info counts as not a manager.
	SwarmAuto SwarmMode = "auto"
	// SwarmOn requires an active Swarm manager: an engine that is not one
	// fails the observation, with an error that says so, until it becomes
	// one. Nothing is emitted meanwhile, so the services' claims stay.
	SwarmOn SwarmMode = "true"
	// SwarmOff never asks about Swarm.
	SwarmOff SwarmMode = "false"
)

// BackoffConfig shapes the waits between reconnection attempts: Initial,
// doubled per consecutive failure, capped at Max, each wait shortened by a
// random fraction of at most Jitter (0..1). A connection that stayed
// healthy for at least Max resets the sequence to Initial.
type BackoffConfig struct {
	Initial time.Duration
	Max     time.Duration
	// Jitter is the largest fraction cut from a wait; zero means the default
	// (0.2).
	Jitter float64
}

// Validate reports every problem in c as one error whose sentences say
// what to change.
func (c Config) Validate() error {
	var errs []error
	if c.Endpoint != "" {
		scheme, addr, ok := strings.Cut(c.Endpoint, "://")
		switch {
		case !ok || addr == "":
			errs = append(errs, fmt.Errorf("docker endpoint %q is not a URL; want unix:///path/to/docker.sock or tcp://host:port", c.Endpoint))
		case scheme != "unix" && scheme != "tcp":
			errs = append(errs, fmt.Errorf("docker endpoint %q uses %s://; want unix:// or tcp://", c.Endpoint, scheme))
		}
	}
	if c.tlsEnabled() && !strings.HasPrefix(c.Endpoint, "tcp://") {
		errs = append(errs, fmt.Errorf("docker TLS files are only used with a tcp:// endpoint; the endpoint is %q", c.endpoint()))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("docker TLS client certificate and key go together; set both or neither"))
	}
	if c.FilterLabel != "" {
		if _, _, _, err := parseFilterLabel(c.FilterLabel); err != nil {
			errs = append(errs, err)
		}
	}
	switch c.Swarm {
	case "", SwarmAuto, SwarmOn, SwarmOff:
	default:
		errs = append(errs, fmt.Errorf("docker swarm mode %q is not auto, true or false", c.Swarm))
	}
	if strings.ContainsAny(c.LabelPrefix, "= ") {
		errs = append(errs, fmt.Errorf("label prefix %q must not contain '=' or spaces", c.LabelPrefix))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"poll interval", c.PollInterval},
		{"debounce", c.Debounce},
		{"backoff initial wait", c.Backoff.Initial},
		{"backoff maximum wait", c.Backoff.Max},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("docker %s is %v; it must be positive (or zero for the default)", d.name, d.v))
		}
	}
	if c.Backoff.Jitter < 0 || c.Backoff.Jitter > 1 {
		errs = append(errs, fmt.Errorf("backoff jitter is %v; it must be between 0 and 1", c.Backoff.Jitter))
	}
	if c.Backoff.Initial > 0 && c.Backoff.Max > 0 && c.Backoff.Max < c.Backoff.Initial {
		errs = append(errs, fmt.Errorf("backoff maximum wait %v is below the initial wait %v", c.Backoff.Max, c.Backoff.Initial))
	}
	return errors.Join(errs...)
}

// withDefaults fills zero (and out-of-range) fields so the watcher never
// runs with a zero period. Validate is where bad values are reported.
func (c Config) withDefaults() Config {
	if c.Endpoint == "" {
		c.Endpoint = DefaultEndpoint
	}
	if c.LabelPrefix == "" {
		c.LabelPrefix = DefaultLabelPrefix
	}
	if c.Swarm == "" {
		c.Swarm = SwarmAuto
	}
	if c.Source == "" {
		c.Source = messages.LocalSource
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Debounce <= 0 {
		c.Debounce = DefaultDebounce
	}
	if c.Backoff.Initial <= 0 {
		c.Backoff.Initial = DefaultBackoffInitial
	}
	if c.Backoff.Max <= 0 {
		c.Backoff.Max = max(DefaultBackoffMax, c.Backoff.Initial)
	}
	if c.Backoff.Max < c.Backoff.Initial {
		c.Backoff.Max = c.Backoff.Initial
	}
	if c.Backoff.Jitter <= 0 || c.Backoff.Jitter > 1 {
		c.Backoff.Jitter = DefaultBackoffJitter
	}
	return c
}

func (c Config) endpoint() string {
	if c.Endpoint == "" {
		return DefaultEndpoint
	}
	return c.Endpoint
}

func (c Config) tlsEnabled() bool {
	return c.TLSCA != "" || c.TLSCert != "" || c.TLSKey != ""
}

// parseFilterLabel splits "key" or "key=value".
func parseFilterLabel(s string) (key, value string, hasValue bool, err error) {
	key, value, hasValue = strings.Cut(s, "=")
	if strings.TrimSpace(key) == "" || strings.TrimSpace(key) != key {
		return "", "", false, fmt.Errorf("docker filter label %q is not a label filter; want key or key=value", s)
	}
	return key, value, hasValue, nil
}
