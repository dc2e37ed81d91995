package actors

import (
	"context"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/labelgate/labelgate/publicip"
)

// PublicIPConfig configures the public IP actor.
type PublicIPConfig struct {
	Discoverer publicip.Discoverer
	Interval   time.Duration
	Registry   *actor.PID
	Logger     *slog.Logger
}

type publicIPResult struct {
	v4, v6     string
	err4, err6 error
}

type publicIPCheck struct{}

// publicIPActor finds main's public addresses (for `target: auto`) now and
// every Interval, off the actor goroutine, and tells the registry when they
// change. A failed lookup keeps the last known address of that family: it
// never reads as "no address".
type publicIPActor struct {
	timers
	cfg     PublicIPConfig
	current PublicIPs
	running bool
	failing bool // the IPv4 lookup failed last time (warn once, not every round)
	ctx     context.Context
	cancel  context.CancelFunc
}

// NewPublicIPProps builds the public IP actor.
func NewPublicIPProps(cfg PublicIPConfig) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &publicIPActor{cfg: cfg}
	}, withMiddleware(cfg.Logger))
}

func (a *publicIPActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.ctx, a.cancel = context.WithCancel(context.Background())
		ctx.Send(ctx.Self(), publicIPCheck{})
	case *actor.Stopping, *actor.Restarting:
		a.cancel()
	case publicIPCheck:
		if a.running {
			return
		}
		a.running = true
		self, root, d, c := ctx.Self(), ctx.ActorSystem().Root, a.cfg.Discoverer, a.ctx
		go func() {
			var r publicIPResult
			if ip, err := d.Lookup(c, publicip.IPv4); err == nil {
				r.v4 = ip.String()
			} else {
				r.err4 = err
			}
			if ip, err := d.Lookup(c, publicip.IPv6); err == nil {
				r.v6 = ip.String()
			} else {
				r.err6 = err
			}
			root.Send(self, r)
		}()
	case publicIPResult:
		a.running = false
		next := a.current
		log := a.cfg.Logger.With("actor", "publicip")
		switch {
		case m.err4 == nil:
			next.V4, a.failing = m.v4, false
		case !a.failing:
			a.failing = true
			log.Warn("public IPv4 address unknown; records with target=auto keep their content", "err", m.err4, "keeping", a.current.V4)
		default:
			log.Debug("public IPv4 address still unknown", "err", m.err4)
		}
		if m.err6 == nil {
			next.V6 = m.v6
		} else {
			log.Debug("public IPv6 address unknown", "err", m.err6)
		}
		if next != a.current {
			log.Info("public address changed", "ipv4", next.V4, "ipv6", next.V6, "was_ipv4", a.current.V4, "was_ipv6", a.current.V6)
			a.current = next
			ctx.Send(a.cfg.Registry, PublicIPsChanged{IPs: next})
		}
		a.after(ctx, "check", a.cfg.Interval, publicIPCheck{})
	}
}
