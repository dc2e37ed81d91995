package cfsim

import (
	"testing"
	"time"
)

// tunnelAnswer is the part of the tunnel GET the connector model shapes.
type tunnelAnswer struct {
	Status          string           `json:"status"`
	Connections     []map[string]any `json:"connections"`
	ConnsActiveAt   *time.Time       `json:"conns_active_at"`
	ConnsInactiveAt *time.Time       `json:"conns_inactive_at"`
}

// clientAnswer is one connector as the connections endpoint answers it.
type clientAnswer struct {
	ID            string           `json:"id"`
	Arch          string           `json:"arch"`
	Version       string           `json:"version"`
	ConfigVersion int              `json:"config_version"`
	Features      []string         `json:"features"`
	RunAt         time.Time        `json:"run_at"`
	Conns         []map[string]any `json:"conns"`
}

func getTunnelAnswer(t *testing.T, s *Server, id string) tunnelAnswer {
	t.Helper()
	a := call(t, s, "GET", "/accounts/"+s.AccountID+"/cfd_tunnel/"+id, nil)
	if a.Status != 200 {
		t.Fatalf("GET tunnel: %d %+v", a.Status, a.Errors)
	}
	var ta tunnelAnswer
	a.decode(t, &ta)
	return ta
}

func getClients(t *testing.T, s *Server, id string) []clientAnswer {
	t.Helper()
	a := call(t, s, "GET", "/accounts/"+s.AccountID+"/cfd_tunnel/"+id+"/connections", nil)
	if a.Status != 200 {
		t.Fatalf("GET connections: %d %+v", a.Status, a.Errors)
	}
	if a.ResultInfo != nil {
		t.Errorf("the connections endpoint is a single page without result_info: %+v", a.ResultInfo)
	}
	var cs []clientAnswer
	a.decode(t, &cs)
	return cs
}

// A tunnel's status follows its connectors as Cloudflare's does: healthy
// with an active connection, down after it lost the last one, inactive
// when it never had one; the tunnel GET and the connections endpoint
// answer Cloudflare's shapes.
func TestTunnelConnectors(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := NewServer(t, WithClock(clock.Now))

	// Healthy by default, with one simulated connector.
	tun := s.AddTunnel(Tunnel{Name: "default"})
	ta := getTunnelAnswer(t, s, tun.ID)
	if ta.Status != TunnelHealthy || len(ta.Connections) != 2 || ta.ConnsActiveAt == nil || ta.ConnsInactiveAt != nil {
		t.Fatalf("new tunnel: %+v", ta)
	}
	cs := getClients(t, s, tun.ID)
	if len(cs) != 1 || len(cs[0].Conns) != 2 || cs[0].Version != DefaultConnectorVersion || cs[0].ID == "" || cs[0].Features == nil {
		t.Fatalf("new tunnel's connectors: %+v", cs)
	}
	conn := cs[0].Conns[0]
	for _, k := range []string{"id", "uuid", "client_id", "client_version", "colo_name", "origin_ip", "opened_at", "is_pending_reconnect"} {
		if _, ok := conn[k]; !ok {
			t.Errorf("a connection lacks %q: %v", k, conn)
		}
	}
	if conn["client_id"] != cs[0].ID || conn["origin_ip"] != "192.0.2.10" || conn["colo_name"] != "sim01" {
		t.Errorf("connection %v", conn)
	}

	// The connector goes away: down, with the time it went.
	clock.Advance(time.Minute)
	if err := s.SetTunnelConnectors(tun.ID, "", nil); err != nil {
		t.Fatal(err)
	}
	ta = getTunnelAnswer(t, s, tun.ID)
	if ta.Status != TunnelDown || len(ta.Connections) != 0 || ta.ConnsInactiveAt == nil || !ta.ConnsInactiveAt.Equal(clock.Now()) {
		t.Fatalf("after the connector left: %+v", ta)
	}
	if cs := getClients(t, s, tun.ID); len(cs) != 0 {
		t.Fatalf("connectors after they left: %+v", cs)
	}

	// Back by name, with a connection pending reconnect and an explicit
	// degraded status.
	c := SimConnector("198.51.100.7", "ams01", "fra02")
	c.Conns[1].IsPendingReconnect = true
	clock.Advance(time.Minute)
	if err := s.SetTunnelConnectors("default", TunnelDegraded, []TunnelConnector{c}); err != nil {
		t.Fatal(err)
	}
	ta = getTunnelAnswer(t, s, tun.ID)
	if ta.Status != TunnelDegraded || len(ta.Connections) != 2 || ta.ConnsInactiveAt != nil || !ta.ConnsActiveAt.Equal(clock.Now()) {
		t.Fatalf("after it came back: %+v", ta)
	}
	if cs := getClients(t, s, tun.ID); len(cs) != 1 || cs[0].Conns[1]["is_pending_reconnect"] != true || cs[0].Conns[0]["origin_ip"] != "198.51.100.7" {
		t.Fatalf("connectors after they came back: %+v", cs)
	}

	// Only a connection pending reconnect: no active one, so down.
	c.Conns = c.Conns[1:]
	if err := s.SetTunnelConnectors(tun.ID, "", []TunnelConnector{c}); err != nil {
		t.Fatal(err)
	}
	if ta := getTunnelAnswer(t, s, tun.ID); ta.Status != TunnelDown {
		t.Errorf("only a pending connection: status %q, want down", ta.Status)
	}

	// Never connected: inactive, without timestamps.
	idle := s.AddTunnel(Tunnel{Name: "idle", Status: TunnelInactive})
	if ta := getTunnelAnswer(t, s, idle.ID); ta.Status != TunnelInactive || ta.ConnsActiveAt != nil || len(ta.Connections) != 0 {
		t.Errorf("inactive tunnel: %+v", ta)
	}
	if err := s.SetTunnelConnectors(idle.ID, "", []TunnelConnector{}); err != nil {
		t.Fatal(err)
	}
	if ta := getTunnelAnswer(t, s, idle.ID); ta.Status != TunnelInactive {
		t.Errorf("a tunnel that never connected: status %q, want inactive", ta.Status)
	}
	down := s.AddTunnel(Tunnel{Name: "gone", Status: TunnelDown})
	if ta := getTunnelAnswer(t, s, down.ID); ta.Status != TunnelDown || ta.ConnsActiveAt == nil || ta.ConnsInactiveAt == nil {
		t.Errorf("down tunnel: %+v", ta)
	}

	if err := s.SetTunnelConnectors(tun.ID, "sleepy", nil); err == nil {
		t.Error("an unknown status was accepted")
	}
	if err := s.SetTunnelConnectors("nope", "", nil); err == nil {
		t.Error("an unknown tunnel was accepted")
	}
	if a := call(t, s, "GET", "/accounts/"+s.AccountID+"/cfd_tunnel/nope/connections", nil); a.Status != 404 || a.code() != 1002 {
		t.Errorf("connections of an unknown tunnel: %d %+v", a.Status, a.Errors)
	}
	// Copies: changing what Tunnels returns changes nothing stored.
	got := s.Tunnels()
	got[0].Connectors[0].Conns[0].ColoName = "changed"
	if s.Tunnels()[0].Connectors[0].Conns[0].ColoName == "changed" {
		t.Error("Tunnels returned the stored connectors, not copies")
	}
}

// The admin endpoint sets, reads and removes a tunnel's connectors in
// Cloudflare's client shape, by tunnel id or name; seeds take connectors.
func TestAdminConnectors(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	admin := adminCaller(t, s)
	seed := `
tunnels:
  - name: edge
    connectors:
      - {id: 11111111-2222-4333-8444-555555555555, version: 2024.6.0, conns: [{colo_name: ams01, origin_ip: 203.0.113.9}]}
  - name: never
    status: inactive
`
	if a := admin("POST", "/seed", seed); a.Status != 200 {
		t.Fatalf("seed: %d %+v", a.Status, a.Errors)
	}
	var w connectorsWire
	a := admin("GET", "/tunnels/edge/connectors", "")
	a.decode(t, &w)
	if a.Status != 200 || w.Status != TunnelHealthy || len(w.Connectors) != 1 || w.Connectors[0].Version != "2024.6.0" ||
		w.Connectors[0].Conns[0].OriginIP != "203.0.113.9" || w.Connectors[0].Conns[0].ID == "" {
		t.Fatalf("seeded connectors: %d %+v", a.Status, w)
	}
	never := admin("GET", "/tunnels/never/connectors", "")
	never.decode(t, &w)
	if w.Status != TunnelInactive || len(w.Connectors) != 0 {
		t.Fatalf("seeded inactive tunnel: %+v", w)
	}

	id := s.Tunnels()[0].ID
	a = admin("DELETE", "/tunnels/"+id+"/connectors", "")
	a.decode(t, &w)
	if a.Status != 200 || w.Status != TunnelDown || len(w.Connectors) != 0 || w.ConnsInactiveAt == nil {
		t.Fatalf("connectors removed: %d %+v", a.Status, w)
	}
	a = admin("PUT", "/tunnels/edge/connectors", `{"connectors":[{"version":"2025.1.0","conns":[{"colo_name":"lhr01","origin_ip":"192.0.2.77"},{"colo_name":"lhr02","origin_ip":"192.0.2.77"}]}]}`)
	a.decode(t, &w)
	if a.Status != 200 || w.Status != TunnelHealthy || len(w.Connectors[0].Conns) != 2 {
		t.Fatalf("connectors set: %d %+v", a.Status, w)
	}
	if cs := getClients(t, s, id); len(cs) != 1 || cs[0].Version != "2025.1.0" || cs[0].Conns[1]["colo_name"] != "lhr02" || cs[0].Conns[0]["client_version"] != "2025.1.0" {
		t.Fatalf("the API after the admin PUT: %+v", cs)
	}
	a = admin("PUT", "/tunnels/edge/connectors", `{"status":"degraded","connectors":[{"conns":[{"colo_name":"lhr01"}]}]}`)
	a.decode(t, &w)
	if w.Status != TunnelDegraded {
		t.Errorf("explicit status: %+v", w)
	}
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"PUT", "/tunnels/edge/connectors", `{"status":"sleepy"}`, 400},
		{"PUT", "/tunnels/edge/connectors", `{"connectors":7}`, 400},
		{"GET", "/tunnels/nope/connectors", "", 404},
		{"DELETE", "/tunnels/nope/connectors", "", 404},
		{"PATCH", "/tunnels/edge/connectors", "", 405},
	} {
		if a := admin(tc.method, tc.path, tc.body); a.Status != tc.status {
			t.Errorf("%s %s %s: %d, want %d", tc.method, tc.path, tc.body, a.Status, tc.status)
		}
	}
	if a := admin("POST", "/seed", "tunnels: [{name: x, status: sleepy}]"); a.Status != 400 {
		t.Errorf("a seed with an unknown tunnel status: %d", a.Status)
	}
	if len(s.Audit()) != 1 {
		t.Errorf("the API read is audited, the admin requests are not: %+v", s.Audit())
	}
}
