package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestReadyz(t *testing.T) {
	t.Parallel()
	ready := Health{DockerConnected: true, TokenVerified: true, StoreWritable: true, Settled: true}
	tests := []struct {
		name   string
		health func(h *Health)
		status int
		checks map[string]checkJSON
	}{
		{name: "ready", health: func(*Health) {}, status: 200, checks: map[string]checkJSON{
			"docker": {OK: true}, "cloudflare_token": {OK: true}, "store": {OK: true}, "settled": {OK: true}}},
		{name: "docker down", health: func(h *Health) {
			h.DockerConnected, h.DockerError = false, "dial unix /var/run/docker.sock: connection refused"
		},
			status: 503, checks: map[string]checkJSON{
				"docker": {Error: "dial unix /var/run/docker.sock: connection refused"}, "cloudflare_token": {OK: true}, "store": {OK: true}, "settled": {OK: true}}},
		{name: "token not verified", health: func(h *Health) { h.TokenVerified, h.TokenError = false, "HTTP 401: invalid token" },
			status: 503, checks: map[string]checkJSON{
				"docker": {OK: true}, "cloudflare_token": {Error: "HTTP 401: invalid token"}, "store": {OK: true}, "settled": {OK: true}}},
		{name: "store read-only", health: func(h *Health) { h.StoreWritable, h.StoreError = false, "attempt to write a readonly database" },
			status: 503, checks: map[string]checkJSON{
				"docker": {OK: true}, "cloudflare_token": {OK: true}, "store": {Error: "attempt to write a readonly database"}, "settled": {OK: true}}},
		{name: "not settled", health: func(h *Health) { h.Settled = false },
			status: 503, checks: map[string]checkJSON{
				"docker": {OK: true}, "cloudflare_token": {OK: true}, "store": {OK: true},
				"settled": {Error: "waiting for every known source to report (or the settle timeout)"}}},
		{name: "agent listener accepting", health: func(h *Health) { h.AgentListener = true },
			status: 200, checks: map[string]checkJSON{
				"docker": {OK: true}, "cloudflare_token": {OK: true}, "store": {OK: true}, "settled": {OK: true}, "agent_listener": {OK: true}}},
		{name: "agent listener cannot accept", health: func(h *Health) {
			h.AgentListener, h.AgentListenerError = true, "cannot accept connections since 2026-12-04T10:00:00Z: accept4: too many open files"
		},
			status: 503, checks: map[string]checkJSON{
				"docker": {OK: true}, "cloudflare_token": {OK: true}, "store": {OK: true}, "settled": {OK: true},
				"agent_listener": {Error: "cannot accept connections since 2026-12-04T10:00:00Z: accept4: too many open files"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, b := newTestServer(t, testToken) // /readyz needs no token
			h := ready
			tt.health(&h)
			b.set(func(f *fakeBackend) { f.health = h })
			w := serve(t, s, req{path: "/readyz"})
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d", w.Code, tt.status)
			}
			var got readyzJSON
			decodeInto(t, w.Body.Bytes(), &got)
			want := readyzJSON{Status: map[bool]string{true: "ready", false: "not ready"}[tt.status == 200], Checks: tt.checks}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("/readyz (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	s, b := newTestServer(t, testToken)
	b.set(func(f *fakeBackend) { f.readErr = errors.New("everything is down") })
	w := serve(t, s, req{path: "/healthz"})
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", w.Code)
	}
	if got, want := compact(t, w.Body.Bytes()), `{"status":"ok","version":"v1.2.3"}`; got != want {
		t.Errorf("/healthz = %s, want %s", got, want)
	}
}

func TestAgentHealth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		health AgentHealth
		status int
		body   string
	}{
		{"ready", AgentHealth{DockerConnected: true, MainConnected: true, Mode: "outbound"}, 200,
			`{"status":"ready","mode":"outbound","checks":{"docker":{"ok":true},"main":{"ok":true}}}`},
		{"main unreachable", AgentHealth{DockerConnected: true, MainError: "dial tcp 10.0.0.1:8081: i/o timeout", Mode: "outbound"}, 503,
			`{"status":"not ready","mode":"outbound","checks":{"docker":{"ok":true},"main":{"ok":false,"error":"dial tcp 10.0.0.1:8081: i/o timeout"}}}`},
		{"docker down", AgentHealth{DockerError: "no such file", MainConnected: true, Mode: "inbound"}, 503,
			`{"status":"not ready","mode":"inbound","checks":{"docker":{"ok":false,"error":"no such file"},"listener":{"ok":true},"main":{"ok":true}}}`},
		{"inbound listener cannot accept", AgentHealth{DockerConnected: true, MainConnected: true, Mode: "inbound", ListenerError: "cannot accept connections since 2026-12-04T10:00:00Z: accept4: too many open files"}, 503,
			`{"status":"not ready","mode":"inbound","checks":{"docker":{"ok":true},"listener":{"ok":false,"error":"cannot accept connections since 2026-12-04T10:00:00Z: accept4: too many open files"},"main":{"ok":true}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var gotDeadline bool
			h := NewAgentHealth(func(ctx context.Context) AgentHealth {
				_, gotDeadline = ctx.Deadline()
				return tt.health
			})
			w := serve(t, h, req{path: "/readyz"})
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d", w.Code, tt.status)
			}
			if got := compact(t, w.Body.Bytes()); got != tt.body {
				t.Errorf("/readyz = %s, want %s", got, tt.body)
			}
			if !gotDeadline {
				t.Error("the health func got a context without a deadline")
			}
			w = serve(t, h, req{path: "/healthz"})
			if w.Code != http.StatusOK || compact(t, w.Body.Bytes()) != `{"status":"ok"}` {
				t.Errorf("/healthz: %d %s", w.Code, w.Body)
			}
		})
	}
	w := serve(t, NewAgentHealth(func(context.Context) AgentHealth { return AgentHealth{} }), req{path: "/api/v1/overview"})
	if w.Code != http.StatusNotFound {
		t.Errorf("the agent's health port serves %d for the API, want 404", w.Code)
	}
}

// TestServe starts a real listener and stops it through the context.
func TestServe(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}

	s, _ := newTestServer(t, "")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, addr, s, nil) }()

	url := fmt.Sprintf("http://%s/healthz", addr)
	var resp *http.Response
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if resp, err = http.Get(url); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("the server did not answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz: %d", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel = %v, want nil", err)
		}
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatal("Serve did not return after its context was cancelled")
	}

	// A second server on a taken address fails at once.
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	if err := Serve(t.Context(), ln.Addr().String(), s, nil); err == nil {
		t.Error("Serve on a taken address returned nil")
	}
}
