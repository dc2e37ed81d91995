package dockertest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

func TestEventMatches(t *testing.T) {
	t.Parallel()
	start := events.Message{Type: events.ContainerEventType, Action: "start",
		Actor: events.Actor{Attributes: map[string]string{"name": "web", "app": "x"}}}
	health := start
	health.Action = "health_status: healthy"
	tests := []struct {
		name    string
		filters client.Filters
		m       events.Message
		want    bool
	}{
		{"no filters", nil, start, true},
		{"type matches", make(client.Filters).Add("type", "container", "network"), start, true},
		{"type differs", make(client.Filters).Add("type", "network"), start, false},
		{"event matches", make(client.Filters).Add("event", "die", "start"), start, true},
		{"event differs", make(client.Filters).Add("event", "die"), start, false},
		{"health_status by prefix", make(client.Filters).Add("event", "health_status"), health, true},
		{"label key", make(client.Filters).Add("label", "app"), start, true},
		{"label key=value", make(client.Filters).Add("label", "app=x"), start, true},
		{"every label must match", make(client.Filters).Add("label", "app=x", "other"), start, false},
	}
	for _, tt := range tests {
		if got := eventMatches(tt.filters, tt.m); got != tt.want {
			t.Errorf("%s: eventMatches = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestListAndInspect(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := New()
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	web := e.AddAt("web", map[string]string{"app": "web"}, created)
	e.Add("db", map[string]string{"app": "db"})
	old := e.Add("old", map[string]string{"app": "old"})
	e.Edit(old, func(c *Container) { c.State = "exited" })

	res, err := e.ContainerList(ctx, client.ContainerListOptions{Filters: make(client.Filters).Add("label", "app=web")})
	if err != nil || len(res.Items) != 1 || res.Items[0].ID != web || res.Items[0].Created != created.Unix() {
		t.Fatalf("list by label = %+v, %v; want web alone, created %v", res.Items, err, created)
	}
	if res, _ := e.ContainerList(ctx, client.ContainerListOptions{}); len(res.Items) != 2 {
		t.Errorf("list without All has %d containers, want 2 (the exited one hidden)", len(res.Items))
	}
	if res, _ := e.ContainerList(ctx, client.ContainerListOptions{All: true}); len(res.Items) != 3 {
		t.Errorf("list with All has %d containers, want 3", len(res.Items))
	}

	e.SetInspectGone(web, true)
	if _, err := e.ContainerInspect(ctx, web, client.ContainerInspectOptions{}); !cerrdefs.IsNotFound(err) {
		t.Errorf("inspect of a gone container = %v, want not found", err)
	}
	boom := errors.New("boom")
	e.SetListError(boom)
	if _, err := e.ContainerList(ctx, client.ContainerListOptions{}); !errors.Is(err, boom) {
		t.Errorf("list with a list error = %v, want boom", err)
	}
	if p, l, i := e.Counts(); p != 0 || l != 4 || i != 1 {
		t.Errorf("Counts() = %d, %d, %d; want 0, 4, 1", p, l, i)
	}
}

// A stream keeps every event in order however late it is read, and ends
// with the BreakStreams error.
func TestStreamQueuesAndBreaks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := New()
		res := e.Events(t.Context(), client.EventsListOptions{Filters: make(client.Filters).Add("type", "container")})
		var want []string
		for i := range 3000 {
			name := fmt.Sprintf("c%04d", i)
			id := e.Start(name, nil)
			e.Connect(id, "tunnel", "10.0.0.2") // filtered out by type
			want = append(want, name)
		}
		var got []string
		for range want {
			got = append(got, (<-res.Messages).Actor.Attributes["name"])
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("event names (-want +got):\n%s", diff)
		}

		eof := errors.New("unexpected EOF")
		e.BreakStreams(eof)
		if err := <-res.Err; !errors.Is(err, eof) {
			t.Errorf("stream ended with %v, want %v", err, eof)
		}
		if _, open := <-res.Err; open {
			t.Errorf("Err not closed after the stream ended")
		}
		if n := e.OpenStreams(); n != 0 {
			t.Errorf("%d streams open after BreakStreams", n)
		}
	})
}

func TestStreamEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := New()
		ctx, cancel := context.WithCancel(t.Context())
		res := e.Events(ctx, client.EventsListOptions{Since: "123.0"})
		e.Start("web", nil) // queued, never read
		cancel()
		if err := <-res.Err; !errors.Is(err, context.Canceled) {
			t.Errorf("stream ended with %v, want context.Canceled", err)
		}
		synctest.Wait()
		if n := e.OpenStreams(); n != 0 {
			t.Errorf("%d streams open after cancel", n)
		}
		if opts := e.EventOptions(); len(opts) != 1 || opts[0].Since != "123.0" {
			t.Errorf("EventOptions() = %+v, want the one subscription", opts)
		}
	})
}
