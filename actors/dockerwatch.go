package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/dockerwatch"
	"github.com/labelgate/labelgate/messages"
)

// DockerWatchConfig configures a dockerwatch actor.
type DockerWatchConfig struct {
	Watch dockerwatch.Config
	// NewClient builds the Docker client; dockerwatch.NewClient in
	// production, a fake in tests.
	NewClient func(dockerwatch.Config) (dockerwatch.Client, error)
	// Sink receives every container set (the registry on main, the link
	// on an agent).
	Sink *actor.PID
	// StatusSink, if set, receives every dockerwatch.Status change (the
	// agent announces its Docker health to main).
	StatusSink *actor.PID
	Logger     *slog.Logger
	Metrics    DockerMetrics
}

// WatchConfig is the dockerwatch configuration of cfg's Docker settings,
// the same on main and on an agent.
func WatchConfig(cfg config.Config) dockerwatch.Config {
	d := cfg.Docker
	return dockerwatch.Config{
		Endpoint: d.Endpoint, TLSCA: d.TLS.CA, TLSCert: d.TLS.Cert, TLSKey: d.TLS.Key,
		FilterLabel: d.FilterLabel, LabelPrefix: cfg.LabelPrefix, Source: messages.LocalSource,
		PollInterval: d.PollInterval, Debounce: d.Debounce, Swarm: dockerwatch.SwarmMode(d.SwarmFor(cfg.Mode)),
	}
}

// DockerMetrics receives Docker stream reconnects (web.Metrics implements it).
type DockerMetrics interface {
	DockerReconnect(source string)
}

type dockerSet struct{ set messages.ContainerSet }
type dockerStatus struct{ s dockerwatch.Status }
type dockerStopped struct{ err error }

// dockerWatchActor wraps one dockerwatch.Watcher: the watcher's goroutine
// does the I/O (list, events, reconnects with backoff) and reports back as
// messages. If the watcher ever stops on its own, the actor fails and its
// supervisor restarts it with backoff.
type dockerWatchActor struct {
	cfg    DockerWatchConfig
	status dockerwatch.Status
	last   *messages.ContainerSet
	cancel context.CancelFunc
	done   chan struct{}
}

// NewDockerWatchProps builds a dockerwatch actor.
func NewDockerWatchProps(cfg DockerWatchConfig) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &dockerWatchActor{cfg: cfg}
	}, withMiddleware(cfg.Logger))
}

func (a *dockerWatchActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		client, err := a.cfg.NewClient(a.cfg.Watch)
		if err != nil {
			panic(fmt.Errorf("creating the Docker client: %w", err))
		}
		w := dockerwatch.New(client, a.cfg.Watch, a.cfg.Logger.With("actor", "dockerwatch"))
		c, cancel := context.WithCancel(context.Background())
		a.cancel, a.done = cancel, make(chan struct{})
		self, root := ctx.Self(), ctx.ActorSystem().Root
		go func() {
			defer close(a.done)
			defer func() { _ = client.Close() }() // the watch has ended; nothing is read from the client after this
			err := w.Run(c,
				func(set messages.ContainerSet) { root.Send(self, dockerSet{set}) },
				func(s dockerwatch.Status) { root.Send(self, dockerStatus{s}) })
			if !errors.Is(err, context.Canceled) {
				root.Send(self, dockerStopped{err})
			}
		}()
	case *actor.Stopping, *actor.Restarting:
		if a.cancel != nil {
			a.cancel()
			<-a.done
		}
	case dockerSet:
		a.last = &m.set
		ctx.Send(a.cfg.Sink, m.set)
	case messages.ResendSets:
		if a.last != nil {
			ctx.Send(a.cfg.Sink, *a.last)
		}
	case dockerStatus:
		if a.cfg.Metrics != nil && m.s.Reconnects > a.status.Reconnects {
			a.cfg.Metrics.DockerReconnect(a.cfg.Watch.Source)
		}
		a.status = m.s
		if a.cfg.StatusSink != nil {
			ctx.Send(a.cfg.StatusSink, m.s)
		}
	case dockerStopped:
		panic(fmt.Errorf("the Docker watcher stopped: %w", m.err))
	case messages.QueryDockerStatus:
		ctx.Respond(a.status)
	}
}
