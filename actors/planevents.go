package actors

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/labelgate/labelgate/plan"
	"github.com/labelgate/labelgate/store"
)

// changeEvent is the event that records a change a planner wrote; its
// hostname and owner come from the change, never from msg.
func changeEvent(at time.Time, c plan.Change, msg string) store.Event {
	return store.Event{At: at, Level: store.LevelInfo, Kind: string(c.Action), Hostname: c.Hostname,
		Source: c.Owner.Source, Container: c.Owner.Container, Message: msg}
}

// conflictEvent is the event that records a conflict when it first appears.
func conflictEvent(at time.Time, c plan.Conflict) store.Event {
	return store.Event{At: at, Level: store.LevelWarn, Kind: c.EventKind(), Hostname: c.Hostname, Message: c.String()}
}

// recordChanges logs and records the changes of one write: at most
// maxChangeLines one by one, the rest in one summary (what names the
// write in it). line is the message of one change.
func recordChanges(ctx actor.Context, cfg PlannerConfig, log *slog.Logger, changes []plan.Change, what string, line func(plan.Change) string) {
	var events []store.Event
	now := time.Now()
	var lines changeLines
	for _, c := range changes {
		if !lines.take(string(c.Action)) {
			continue
		}
		e := changeEvent(now, c, line(c))
		log.Info(e.Message, "event", e.Kind, "hostname", e.Hostname, "source", e.Source, "container", e.Container)
		events = append(events, e)
	}
	if e, ok := lines.summary(now, what); ok {
		log.Info(e.Message, "event", e.Kind)
		events = append(events, e)
	}
	if len(events) > 0 {
		ctx.Send(cfg.Store, storeAppendEvents{Events: events})
	}
}

// changeStrings is the one-line form of each change (dry-run logs).
func changeStrings(changes []plan.Change) []string {
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = string(c.Action) + " " + c.String()
	}
	return out
}

// reportNew logs and records conflicts not reported before, and forgets
// those that went away (so a recurrence is reported again). seen is keyed by
// the conflict's line.
func reportNew(ctx actor.Context, cfg PlannerConfig, log *slog.Logger, seen map[string]bool, conflicts []plan.Conflict) {
	now := map[string]bool{}
	var events []store.Event
	at := time.Now()
	for _, c := range conflicts {
		key := c.String()
		now[key] = true
		if seen[key] {
			continue
		}
		e := conflictEvent(at, c)
		log.Warn(e.Message, "event", e.Kind, "hostname", e.Hostname)
		events = append(events, e)
	}
	for c := range seen {
		if !now[c] {
			delete(seen, c)
		}
	}
	maps.Copy(seen, now)
	if len(events) > 0 {
		ctx.Send(cfg.Store, storeAppendEvents{Events: events})
	}
}

// maxChangeLines is how many changes of one write a planner logs and records
// one by one; the rest are counted in one summary. A write can change
// thousands of routes or records at once (an agent that rewrites its whole
// set), and one line each would flood the log.
const maxChangeLines = 20

// changeLines counts the changes of one write, by kind.
type changeLines struct {
	n       int
	skipped map[string]int
}

// take reports whether the next change of kind gets its own line.
func (c *changeLines) take(kind string) bool {
	if c.n < maxChangeLines {
		c.n++
		return true
	}
	if c.skipped == nil {
		c.skipped = map[string]int{}
	}
	c.skipped[kind]++
	return false
}

// summary is the event for the changes that got no line of their own.
func (c *changeLines) summary(now time.Time, what string) (store.Event, bool) {
	if len(c.skipped) == 0 {
		return store.Event{}, false
	}
	var parts []string
	total := 0
	for _, k := range slices.Sorted(maps.Keys(c.skipped)) {
		parts = append(parts, fmt.Sprintf("%d %s", c.skipped[k], k))
		total += c.skipped[k]
	}
	return store.Event{At: now, Level: store.LevelInfo, Kind: "summary",
		Message: fmt.Sprintf("%s: %d more changes in this write (%s)", what, total, strings.Join(parts, ", "))}, true
}
