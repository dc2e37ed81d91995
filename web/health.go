package web

import (
	"context"
	"net/http"
)

// healthzJSON is /healthz's answer: the process serves HTTP.
type healthzJSON struct {
	Status  string `json:"status"`
	Version string `json:"version,omitempty"`
}

// readyzJSON is /readyz's answer.
type readyzJSON struct {
	Status string               `json:"status"` // ready or not ready
	Checks map[string]checkJSON `json:"checks"`
}

func readyStatus(ready bool) (int, string) {
	if ready {
		return http.StatusOK, "ready"
	}
	return http.StatusServiceUnavailable, "not ready"
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	setAPIHeaders(w)
	writeJSON(w, http.StatusOK, healthzJSON{Status: "ok", Version: s.version})
}

// readyz answers 200 when main can do its job (Docker reachable, Cloudflare
// token verified, store writable, settle point passed), else 503; the body
// says which check fails either way.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	setAPIHeaders(w)
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	h := toHealth(s.backend.Health(ctx))
	status, word := readyStatus(h.Ready)
	writeJSON(w, status, readyzJSON{Status: word, Checks: h.Checks})
}

// AgentHealth is what an agent's /readyz reports.
type AgentHealth struct {
	DockerConnected bool
	DockerError     string
	MainConnected   bool
	MainError       string
	// Mode is the connection mode: outbound (the agent dials main) or
	// inbound (main dials the agent).
	Mode string
	// ListenerError says why an inbound agent's listener cannot accept
	// connections now (empty while it can, and in outbound mode).
	ListenerError string
}

// Ready reports whether the agent does its job: Docker answers, main is
// connected and, inbound, the listener accepts connections.
func (h AgentHealth) Ready() bool {
	return h.DockerConnected && h.MainConnected && h.ListenerError == ""
}

type agentReadyzJSON struct {
	Status string               `json:"status"`
	Mode   string               `json:"mode,omitempty"`
	Checks map[string]checkJSON `json:"checks"`
}

// NewAgentHealth returns the handler of an agent's health port: /healthz
// (the process serves HTTP) and /readyz (Docker reachable and connected to
// main; 503 otherwise). health is called once per /readyz request, with a
// deadline. Both endpoints are unauthenticated.
func NewAgentHealth(health func(ctx context.Context) AgentHealth) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		setAPIHeaders(w)
		writeJSON(w, http.StatusOK, healthzJSON{Status: "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		setAPIHeaders(w)
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		h := health(ctx)
		status, word := readyStatus(h.Ready())
		writeJSON(w, status, agentReadyzJSON{
			Status: word,
			Mode:   h.Mode,
			Checks: agentChecks(h),
		})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		mux.ServeHTTP(w, r)
	})
}

func agentChecks(h AgentHealth) map[string]checkJSON {
	checks := map[string]checkJSON{
		"docker": {OK: h.DockerConnected, Error: h.DockerError},
		"main":   {OK: h.MainConnected, Error: h.MainError},
	}
	if h.Mode == "inbound" {
		checks["listener"] = checkJSON{OK: h.ListenerError == "", Error: h.ListenerError}
	}
	return checks
}
