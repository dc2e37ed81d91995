package cfsim

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// adminPrefix is where the simulator's own endpoints live; the real API has
// nothing under it. Admin requests need no token, are never rate-limited,
// never see injected faults and are not written to the audit log.
const adminPrefix = "/__cfsim"

// faultsWire is Faults with durations as Go duration strings ("250ms").
type faultsWire struct {
	ErrorRate       float64 `json:"error_rate"`
	FailNext        int     `json:"fail_next"`
	ErrorStatus     int     `json:"error_status"`
	Latency         string  `json:"latency"`
	DropRate        float64 `json:"drop_rate"`
	DropNext        int     `json:"drop_next"`
	Storm429For     string  `json:"storm_429_for"`
	Storm429Next    int     `json:"storm_429_next"`
	StormRetryAfter string  `json:"storm_retry_after"`
	PathPrefix      string  `json:"path_prefix"`
	Seed            uint64  `json:"seed"`
}

func durString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request, path string) {
	fail := func(status int, msg string) {
		writeJSON(w, status, envelope{Success: false, Errors: []envelopeErr{{Code: status, Message: msg}}, Messages: []envelopeErr{}})
	}
	ok := func(v any) {
		writeJSON(w, http.StatusOK, envelope{Success: true, Errors: []envelopeErr{}, Messages: []envelopeErr{}, Result: v})
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	route := r.Method + " " + strings.TrimSuffix(path, "/")
	if tunnel, match := connectorsPath(path); match {
		s.adminConnectors(r.Method, tunnel, body, ok, fail)
		return
	}
	switch route {
	case "GET /state":
		ok(s.State())
	case "GET /tunnel/route":
		q := r.URL.Query()
		service, found := s.RouteFor(q.Get("tunnel"), q.Get("host"), q.Get("path"))
		if !found {
			fail(http.StatusNotFound, "no ingress rule of tunnel "+q.Get("tunnel")+" matches "+q.Get("host")+q.Get("path"))
			return
		}
		ok(map[string]string{"service": service})
	case "GET /access/governing":
		q := r.URL.Query()
		app, found := s.GoverningApp(q.Get("host"), q.Get("path"))
		if !found {
			fail(http.StatusNotFound, "no Access application covers "+q.Get("host")+q.Get("path"))
			return
		}
		ok(app)
	case "GET /audit":
		ok(s.Audit())
	case "DELETE /audit":
		s.ResetAudit()
		ok(map[string]any{})
	case "GET /faults":
		f := s.CurrentFaults()
		ok(faultsWire{
			ErrorRate: f.ErrorRate, FailNext: f.FailNext, ErrorStatus: f.ErrorStatus, Latency: durString(f.Latency),
			DropRate: f.DropRate, DropNext: f.DropNext, Storm429For: durString(f.Storm429For), Storm429Next: f.Storm429Next,
			StormRetryAfter: durString(f.StormRetryAfter), PathPrefix: f.PathPrefix, Seed: f.Seed,
		})
	case "PUT /faults", "POST /faults":
		var fw faultsWire
		if len(body) > 0 {
			if err := json.Unmarshal(body, &fw); err != nil {
				fail(http.StatusBadRequest, "faults: "+err.Error())
				return
			}
		}
		f := Faults{ErrorRate: fw.ErrorRate, FailNext: fw.FailNext, ErrorStatus: fw.ErrorStatus, DropRate: fw.DropRate,
			DropNext: fw.DropNext, Storm429Next: fw.Storm429Next, PathPrefix: fw.PathPrefix, Seed: fw.Seed}
		var err error
		for _, d := range []struct {
			in  string
			out *time.Duration
		}{{fw.Latency, &f.Latency}, {fw.Storm429For, &f.Storm429For}, {fw.StormRetryAfter, &f.StormRetryAfter}} {
			if *d.out, err = parseDur(d.in, 0); err != nil {
				fail(http.StatusBadRequest, "faults: "+err.Error())
				return
			}
		}
		s.SetFaults(f)
		ok(fw)
	case "POST /seed":
		sd, err := ParseSeed(body)
		if err == nil {
			err = s.ApplySeed(sd)
		}
		if err != nil {
			fail(http.StatusBadRequest, err.Error())
			return
		}
		ok(s.State())
	case "POST /reset":
		s.Reset()
		ok(map[string]any{})
	case "GET /ratelimit":
		rl := s.RateLimitSettings()
		ok(SeedRateLimit{Requests: rl.Requests, Window: rl.Window.String(), Lockout: rl.Lockout.String()})
	case "PUT /ratelimit", "POST /ratelimit":
		var in SeedRateLimit
		if err := json.Unmarshal(body, &in); err != nil {
			fail(http.StatusBadRequest, "ratelimit: "+err.Error())
			return
		}
		rl := RateLimit{Requests: in.Requests}
		var err error
		if rl.Window, err = parseDur(in.Window, DefaultRateLimitWindow); err == nil {
			rl.Lockout, err = parseDur(in.Lockout, rl.Window)
		}
		if err != nil {
			fail(http.StatusBadRequest, "ratelimit: "+err.Error())
			return
		}
		s.SetRateLimit(rl)
		ok(in)
	case "POST /ratelimit/reset":
		s.ResetRateLimit()
		ok(map[string]any{})
	case "GET /endpoints":
		ok(Endpoints())
	default:
		fail(http.StatusNotFound, "no admin endpoint "+route+"; see GET "+adminPrefix+"/endpoints for the API and doc.go for the admin routes")
	}
}

// connectorsPath matches /tunnels/{id or name}/connectors.
func connectorsPath(path string) (string, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSuffix(path, "/"), "/tunnels/")
	if !ok {
		return "", false
	}
	tunnel, ok := strings.CutSuffix(rest, "/connectors")
	if !ok || tunnel == "" || strings.Contains(tunnel, "/") {
		return "", false
	}
	return tunnel, true
}

// connectorsWire is the admin view of a tunnel's connectors: Cloudflare's
// status and client shapes.
type connectorsWire struct {
	Status          string            `json:"status"`
	Connectors      []TunnelConnector `json:"connectors"`
	ConnsActiveAt   *time.Time        `json:"conns_active_at,omitempty"`
	ConnsInactiveAt *time.Time        `json:"conns_inactive_at,omitempty"`
}

// adminConnectors reads (GET), replaces (PUT/POST) or removes (DELETE) a
// tunnel's connectors. A PUT's status "" follows the connections.
func (s *Server) adminConnectors(method, tunnel string, body []byte, ok func(any), fail func(int, string)) {
	switch method {
	case http.MethodGet:
	case http.MethodPut, http.MethodPost:
		var in connectorsWire
		if len(body) > 0 {
			if err := json.Unmarshal(body, &in); err != nil {
				fail(http.StatusBadRequest, "connectors: "+err.Error())
				return
			}
		}
		if in.Connectors == nil {
			in.Connectors = []TunnelConnector{}
		}
		if err := s.SetTunnelConnectors(tunnel, in.Status, in.Connectors); err != nil {
			fail(http.StatusBadRequest, "connectors: "+err.Error())
			return
		}
	case http.MethodDelete:
		if err := s.SetTunnelConnectors(tunnel, "", []TunnelConnector{}); err != nil {
			fail(http.StatusNotFound, "connectors: "+err.Error())
			return
		}
	default:
		fail(http.StatusMethodNotAllowed, "connectors: GET, PUT, POST or DELETE")
		return
	}
	s.mu.Lock()
	t := s.st.tunnelByIDOrName(tunnel)
	var out connectorsWire
	if t != nil {
		c := cloneTunnel(t)
		out = connectorsWire{Status: c.Status, Connectors: c.Connectors}
		if !c.ConnsActiveAt.IsZero() {
			out.ConnsActiveAt = &c.ConnsActiveAt
		}
		if !c.ConnsInactiveAt.IsZero() {
			out.ConnsInactiveAt = &c.ConnsInactiveAt
		}
	}
	s.mu.Unlock()
	if t == nil {
		fail(http.StatusNotFound, "connectors: no tunnel "+tunnel)
		return
	}
	if out.Connectors == nil {
		out.Connectors = []TunnelConnector{}
	}
	ok(out)
}
