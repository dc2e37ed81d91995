package actors

import (
	"github.com/labelgate/labelgate/messages"
	"log/slog"
	"maps"

	"github.com/asynkron/protoactor-go/actor"
)

// ChildSpec is one child of a supervisor: its name and how to build its
// props from the PIDs of the children started before it.
type ChildSpec struct {
	Name  string
	Props func(started map[string]*actor.PID) *actor.Props
}

// supervisorActor starts its children in order and supervises them one for
// one with capped exponential backoff: a crashing child never takes down its
// siblings, and a child that keeps crashing backs off instead of looping.
type supervisorActor struct {
	specs []ChildSpec
	pids  map[string]*actor.PID
}

// NewSupervisorProps builds a supervisor of the given children.
func NewSupervisorProps(specs []ChildSpec, logger *slog.Logger) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &supervisorActor{specs: specs}
	}, actor.WithSupervisor(DefaultBackoff(logger)), withMiddleware(logger))
}

func (s *supervisorActor) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		s.pids = map[string]*actor.PID{}
		for _, spec := range s.specs {
			pid, err := ctx.SpawnNamed(spec.Props(maps.Clone(s.pids)), spec.Name)
			if err != nil {
				panic(err)
			}
			s.pids[spec.Name] = pid
		}
	case messages.QueryChildren:
		ctx.Respond(maps.Clone(s.pids))
	}
}
