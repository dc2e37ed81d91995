package cfsim

import (
	"fmt"
	"net/http"
	"slices"
	"time"
)

// TunnelConnector is one cloudflared process connected to a tunnel: what
// Cloudflare calls a client (GET /accounts/{account}/cfd_tunnel/{id}/connections
// returns a list of them, each with its connections).
type TunnelConnector struct {
	ID            string       `json:"id" yaml:"id"`
	Arch          string       `json:"arch" yaml:"arch"`
	Version       string       `json:"version" yaml:"version"`
	ConfigVersion int          `json:"config_version" yaml:"config_version"`
	Features      []string     `json:"features" yaml:"features"`
	RunAt         time.Time    `json:"run_at" yaml:"run_at"`
	Conns         []TunnelConn `json:"conns" yaml:"conns"`
}

// TunnelConn is one connection of a connector to a Cloudflare data center.
// The API also answers client_id, client_version and uuid on each; those
// come from the connector and the id.
type TunnelConn struct {
	ID       string    `json:"id" yaml:"id"`
	ColoName string    `json:"colo_name" yaml:"colo_name"`
	OriginIP string    `json:"origin_ip" yaml:"origin_ip"`
	OpenedAt time.Time `json:"opened_at" yaml:"opened_at"`
	// IsPendingReconnect: Cloudflare keeps tracking a connection for some
	// minutes after it dropped; such a connection serves no traffic.
	IsPendingReconnect bool `json:"is_pending_reconnect" yaml:"is_pending_reconnect"`
}

// The tunnel statuses Cloudflare reports.
const (
	TunnelHealthy  = "healthy"
	TunnelDegraded = "degraded"
	TunnelDown     = "down"
	TunnelInactive = "inactive"
)

// DefaultConnectorVersion is the cloudflared version of a connector that
// does not say.
const DefaultConnectorVersion = "2025.11.1"

// SimConnector returns a connector on originIP with one active connection
// per colo (two, "sim01" and "sim02", when none is given); ids and times
// are filled in when it is set on a tunnel.
func SimConnector(originIP string, colos ...string) TunnelConnector {
	if len(colos) == 0 {
		colos = []string{"sim01", "sim02"}
	}
	c := TunnelConnector{Arch: "linux_amd64", Version: DefaultConnectorVersion}
	for _, colo := range colos {
		c.Conns = append(c.Conns, TunnelConn{ColoName: colo, OriginIP: originIP})
	}
	return c
}

// activeConns counts the connections that serve traffic.
func activeConns(cs []TunnelConnector) int {
	n := 0
	for _, c := range cs {
		for _, conn := range c.Conns {
			if !conn.IsPendingReconnect {
				n++
			}
		}
	}
	return n
}

func cloneConnectors(cs []TunnelConnector) []TunnelConnector {
	if cs == nil {
		return nil
	}
	out := make([]TunnelConnector, len(cs))
	for i, c := range cs {
		c.Features = slices.Clone(c.Features)
		c.Conns = slices.Clone(c.Conns)
		out[i] = c
	}
	return out
}

// fillConnectors gives every connector and connection its missing id,
// version, architecture and times.
func fillConnectors(cs []TunnelConnector, now time.Time) []TunnelConnector {
	cs = cloneConnectors(cs)
	for i := range cs {
		c := &cs[i]
		if c.ID == "" {
			c.ID = newUUID()
		}
		if c.Version == "" {
			c.Version = DefaultConnectorVersion
		}
		if c.Arch == "" {
			c.Arch = "linux_amd64"
		}
		if c.RunAt.IsZero() {
			c.RunAt = now
		}
		if c.Features == nil {
			c.Features = []string{}
		}
		if c.Conns == nil {
			c.Conns = []TunnelConn{}
		}
		for j := range c.Conns {
			if c.Conns[j].ID == "" {
				c.Conns[j].ID = newUUID()
			}
			if c.Conns[j].OpenedAt.IsZero() {
				c.Conns[j].OpenedAt = now
			}
		}
	}
	return cs
}

func validStatus(status string) bool {
	switch status {
	case "", TunnelHealthy, TunnelDegraded, TunnelDown, TunnelInactive:
		return true
	}
	return false
}

// setConnectors replaces the tunnel's connectors and keeps its timestamps
// and status as Cloudflare does: status "" follows the connections.
func (t *Tunnel) setConnectors(cs []TunnelConnector, status string, now time.Time) {
	cs = fillConnectors(cs, now)
	was, is := activeConns(t.Connectors) > 0, activeConns(cs) > 0
	switch {
	case is && !was:
		t.ConnsActiveAt, t.ConnsInactiveAt = now, time.Time{}
	case !is && was:
		t.ConnsInactiveAt = now
	}
	t.Connectors = cs
	if status == "" {
		switch {
		case is:
			status = TunnelHealthy
		case t.ConnsActiveAt.IsZero():
			status = TunnelInactive
		default:
			status = TunnelDown
		}
	}
	t.Status = status
}

// SetTunnelConnectors replaces the connectors of a tunnel (by id or name) as
// if cloudflared processes had connected or gone away. status "" derives
// Cloudflare's: healthy with an active connection, else down if the tunnel
// ever had one, else inactive; "degraded" (or any of the four) can be set
// explicitly. Missing ids, versions and times are filled in.
func (s *Server) SetTunnelConnectors(tunnel, status string, connectors []TunnelConnector) error {
	if !validStatus(status) {
		return fmt.Errorf("tunnel status %q is not healthy, degraded, down or inactive", status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.st.tunnelByIDOrName(tunnel)
	if t == nil {
		return fmt.Errorf("no tunnel %s", tunnel)
	}
	t.setConnectors(connectors, status, s.now().UTC())
	return nil
}

func (st *state) tunnelByIDOrName(key string) *Tunnel {
	if t := st.tunnel(key); t != nil {
		return t
	}
	for _, t := range st.tunnels {
		if t.Name == key && !t.Deleted {
			return t
		}
	}
	return nil
}

// connJSON is one connection in Cloudflare's shape (the tunnel GET's
// deprecated "connections" and each client's "conns").
func connJSON(c TunnelConnector, conn TunnelConn) map[string]any {
	return map[string]any{
		"id":                   conn.ID,
		"uuid":                 conn.ID,
		"client_id":            c.ID,
		"client_version":       c.Version,
		"colo_name":            conn.ColoName,
		"origin_ip":            conn.OriginIP,
		"opened_at":            conn.OpenedAt,
		"is_pending_reconnect": conn.IsPendingReconnect,
	}
}

// flatConnsJSON lists every connection of the tunnel (the tunnel GET's
// "connections", which Cloudflare has deprecated in favour of the
// connections endpoint but still answers).
func flatConnsJSON(t *Tunnel) []any {
	out := []any{}
	for _, c := range t.Connectors {
		for _, conn := range c.Conns {
			out = append(out, connJSON(c, conn))
		}
	}
	return out
}

// clientJSON is one connector in the connections endpoint's shape.
func clientJSON(c TunnelConnector) map[string]any {
	conns := make([]any, 0, len(c.Conns))
	for _, conn := range c.Conns {
		conns = append(conns, connJSON(c, conn))
	}
	return map[string]any{
		"id":             c.ID,
		"arch":           c.Arch,
		"version":        c.Version,
		"config_version": c.ConfigVersion,
		"features":       nonNilStrings(c.Features),
		"run_at":         c.RunAt,
		"conns":          conns,
	}
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// nullTime is a timestamp or JSON null when zero.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// getTunnelConnections answers GET …/cfd_tunnel/{id}/connections: the
// connectors with their connections (a single page, no result_info).
func (s *Server) getTunnelConnections(c *reqCtx, r *http.Request) {
	t := s.tunnelFor(c, r)
	if t == nil {
		return
	}
	out := make([]any, 0, len(t.Connectors))
	for _, cl := range t.Connectors {
		out = append(out, clientJSON(cl))
	}
	c.ok(out)
}
