package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labelgate/labelgate/store"
)

// maxEventLimit caps the events one API page returns.
const maxEventLimit = 1000

func isAPIPath(p string) bool {
	return strings.HasPrefix(p, "/api/") || p == "/healthz" || p == "/readyz"
}

func (s *server) apiRoutes() {
	read := func(pattern string, h http.HandlerFunc) { s.mux.Handle(pattern, s.apiRead(h)) }
	act := func(pattern string, h http.HandlerFunc) { s.mux.Handle(pattern, s.apiAction(h)) }

	read("GET /api/v1/overview", s.apiOverview)
	read("GET /api/v1/hostnames", s.apiHostnames)
	read("GET /api/v1/hostnames/{hostname}", s.apiHostname)
	read("GET /api/v1/tunnels", s.apiTunnels)
	read("GET /api/v1/dns-records", s.apiDNSRecords)
	read("GET /api/v1/access", s.apiAccess)
	read("GET /api/v1/agents", s.apiAgents)
	read("GET /api/v1/agents/{name}", s.apiAgent)
	read("GET /api/v1/conflicts", s.apiConflicts)
	read("GET /api/v1/label-errors", s.apiLabelErrors)
	read("GET /api/v1/pending-deletes", s.apiPendingDeletes)
	read("GET /api/v1/events", s.apiEvents)
	read("GET /api/v1/plan", s.apiPlan)

	act("POST /api/v1/resync", s.apiResync)
	act("POST /api/v1/pending-deletes/{hostname}/cancel", s.apiCancelDelete)
	act("POST /api/v1/agents/{name}/decommission", s.apiDecommission)
	act("POST /api/v1/agents/{name}/enable", s.apiEnableAgent)
}

// apiRead guards a read: open without a configured token, else the bearer
// token or a session cookie.
func (s *server) apiRead(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setAPIHeaders(w)
		if s.auth.enabled {
			id := s.auth.identify(r)
			if id.cred != credBearer && id.cred != credCookie {
				s.unauthorized(w, r, id)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// apiAction guards an action: refused without a configured token; with one,
// the bearer token, or a session cookie together with its CSRF token in the
// X-CSRF-Token header from the same origin.
func (s *server) apiAction(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setAPIHeaders(w)
		if !s.auth.enabled {
			s.logFailure(r, http.StatusForbidden, errNoToken.Error())
			writeJSONError(w, http.StatusForbidden, errNoToken.Error())
			return
		}
		id := s.auth.identify(r)
		switch id.cred {
		case credBearer:
		case credCookie:
			if err := s.crossOrigin.Check(r); err != nil {
				writeJSONError(w, http.StatusForbidden, "cross-origin request refused: "+err.Error())
				return
			}
			if !s.auth.csrfValid(id.sess, r.Header.Get(csrfHeader)) {
				writeJSONError(w, http.StatusForbidden,
					"an action authenticated by the session cookie needs the session's CSRF token in the "+csrfHeader+" header; API clients should send Authorization: Bearer <token> instead")
				return
			}
		default:
			s.unauthorized(w, r, id)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// unauthorized answers a request without a valid credential: 429 when its
// bearer token was not checked (too many failures), else 401. Wrong and
// refused tokens are logged by auth, aggregated; a missing credential only
// at debug level.
func (s *server) unauthorized(w http.ResponseWriter, r *http.Request, id identity) {
	switch id.cred {
	case credThrottled:
		w.Header().Set("Retry-After", id.refused.retryAfter())
		writeJSONError(w, http.StatusTooManyRequests, id.refused.message())
		return
	case credWrongBearer:
		challenge(w, id.cred)
		writeJSONError(w, http.StatusUnauthorized, "the bearer token is not the configured API token")
		return
	}
	msg := "this endpoint needs the API token: send Authorization: Bearer <LABELGATE_API_TOKEN>"
	s.logFailure(r, http.StatusUnauthorized, msg)
	challenge(w, id.cred)
	writeJSONError(w, http.StatusUnauthorized, msg)
}

func setAPIHeaders(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		// Our DTOs always marshal; this is a programming error.
		http.Error(w, `{"error":"encoding the response failed"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n')) // a failed write means the client has gone
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

// backendCtx bounds one Backend call of a request.
func backendCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), backendTimeout)
}

// apiFail answers a Backend error.
func (s *server) apiFail(w http.ResponseWriter, r *http.Request, err error, what string) {
	status, msg := backendFailure(err, what)
	s.logFailure(r, status, msg)
	writeJSONError(w, status, msg)
}

// respond calls a Backend read and writes its answer, converted to JSON DTOs.
func respond[T, U any](s *server, w http.ResponseWriter, r *http.Request, what string,
	call func(context.Context) (T, error), convert func(T) U) {
	ctx, cancel := backendCtx(r)
	defer cancel()
	v, err := call(ctx)
	if err != nil {
		s.apiFail(w, r, err, what)
		return
	}
	writeJSON(w, http.StatusOK, convert(v))
}

func (s *server) apiOverview(w http.ResponseWriter, r *http.Request) {
	respond(s, w, r, "reading the overview", s.backend.Overview, func(o Overview) overviewJSON {
		return toOverview(o, s.version, s.auth.enabled)
	})
}

func (s *server) apiHostnames(w http.ResponseWriter, r *http.Request) {
	state := r.URL.Query().Get("state")
	respond(s, w, r, "listing hostnames", s.backend.Hostnames, func(hs []HostnameView) map[string][]hostnameJSON {
		out := make([]hostnameJSON, 0, len(hs))
		for _, h := range hs {
			if state == "" || string(h.State) == state {
				out = append(out, toHostname(h))
			}
		}
		return map[string][]hostnameJSON{"hostnames": out}
	})
}

func (s *server) apiHostname(w http.ResponseWriter, r *http.Request) {
	name := strings.ToLower(r.PathValue("hostname"))
	ctx, cancel := backendCtx(r)
	defer cancel()
	hs, err := s.backend.Hostnames(ctx)
	if err != nil {
		s.apiFail(w, r, err, "listing hostnames")
		return
	}
	for _, h := range hs {
		if h.Hostname == name {
			writeJSON(w, http.StatusOK, toHostname(h))
			return
		}
	}
	writeJSONError(w, http.StatusNotFound, fmt.Sprintf("no container claims the hostname %q", name))
}

func (s *server) apiTunnels(w http.ResponseWriter, r *http.Request) {
	respond(s, w, r, "reading tunnels", s.backend.Tunnels, func(ts []TunnelView) map[string][]tunnelJSON {
		return map[string][]tunnelJSON{"tunnels": mapSlice(ts, toTunnel)}
	})
}

func (s *server) apiDNSRecords(w http.ResponseWriter, r *http.Request) {
	respond(s, w, r, "listing DNS records", s.backend.DNSRecords, func(rs []RecordView) map[string][]recordJSON {
		return map[string][]recordJSON{"records": mapSlice(rs, toRecord)}
	})
}

func (s *server) apiAccess(w http.ResponseWriter, r *http.Request) {
	respond(s, w, r, "reading Access", s.backend.Access, toAccess)
}

func (s *server) apiAgents(w http.ResponseWriter, r *http.Request) {
	respond(s, w, r, "listing agents", s.backend.Agents, func(as []AgentView) map[string][]agentJSON {
		return map[string][]agentJSON{"agents": mapSlice(as, toAgent)}
	})
}

func (s *server) apiAgent(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ctx, cancel := backendCtx(r)
	defer cancel()
	as, err := s.backend.Agents(ctx)
	if err != nil {
		s.apiFail(w, r, err, "listing agents")
		return
	}
	for _, a := range as {
		if a.Name == name {
			writeJSON(w, http.StatusOK, toAgent(a))
			return
		}
	}
	writeJSONError(w, http.StatusNotFound, fmt.Sprintf("main knows no agent named %q", name))
}

func (s *server) apiConflicts(w http.ResponseWriter, r *http.Request) {
	respond(s, w, r, "listing conflicts", s.backend.Conflicts, func(cs []ConflictView) map[string][]conflictJSON {
		return map[string][]conflictJSON{"conflicts": mapSlice(cs, toConflict)}
	})
}

func (s *server) apiLabelErrors(w http.ResponseWriter, r *http.Request) {
	respond(s, w, r, "listing label errors", s.backend.LabelErrors, func(es []LabelErrorView) map[string][]labelErrorJSON {
		return map[string][]labelErrorJSON{"label_errors": mapSlice(es, toLabelError)}
	})
}

func (s *server) apiPendingDeletes(w http.ResponseWriter, r *http.Request) {
	respond(s, w, r, "listing pending deletes", s.backend.PendingDeletes, func(ps []PendingDelete) map[string][]pendingJSON {
		return map[string][]pendingJSON{"pending_deletes": mapSlice(ps, toPending)}
	})
}

type eventsJSON struct {
	Events []eventJSON `json:"events"`
	// NextBefore is the `before` of the next (older) page; absent on the
	// last page.
	NextBefore int64 `json:"next_before,omitempty"`
}

func (s *server) apiEvents(w http.ResponseWriter, r *http.Request) {
	q, err := parseEventQuery(r)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	respond(s, w, r, "reading events",
		func(ctx context.Context) ([]store.Event, error) { return s.backend.Events(ctx, q) },
		func(es []store.Event) eventsJSON {
			return eventsJSON{Events: mapSlice(es, toEvent), NextBefore: nextBefore(q, es)}
		})
}

// parseEventQuery reads limit, before and hostname.
func parseEventQuery(r *http.Request) (store.EventQuery, error) {
	v := r.URL.Query()
	q := store.EventQuery{Limit: store.DefaultEventLimit, Hostname: strings.ToLower(v.Get("hostname"))}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxEventLimit {
			return q, fmt.Errorf("limit must be a whole number from 1 to %d, not %q", maxEventLimit, s)
		}
		q.Limit = n
	}
	if s := v.Get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return q, fmt.Errorf("before must be an event id (a positive whole number), not %q", s)
		}
		q.BeforeID = n
	}
	return q, nil
}

// nextBefore is the cursor of the next page: the oldest id of a full page.
func nextBefore(q store.EventQuery, es []store.Event) int64 {
	if len(es) == 0 || len(es) < q.Limit {
		return 0
	}
	return es[len(es)-1].ID
}

func (s *server) apiPlan(w http.ResponseWriter, r *http.Request) {
	respond(s, w, r, "planning", s.backend.Plan, toPlan)
}

// actionJSON is the answer of a successful action.
type actionJSON struct {
	Action  string `json:"action"`
	Target  string `json:"target,omitempty"`
	Message string `json:"message"`
}

func (s *server) apiResync(w http.ResponseWriter, r *http.Request) {
	res, err := s.doResync(r)
	if err != nil {
		s.apiFail(w, r, err, "asking for a resync")
		return
	}
	writeJSON(w, http.StatusAccepted, res)
}

func (s *server) apiCancelDelete(w http.ResponseWriter, r *http.Request) {
	res, err := s.doCancelDelete(r, r.PathValue("hostname"))
	if err != nil {
		s.apiFail(w, r, err, "cancelling the delete of "+strconv.Quote(r.PathValue("hostname")))
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *server) apiDecommission(w http.ResponseWriter, r *http.Request) {
	res, err := s.doDecommission(r, r.PathValue("name"))
	if err != nil {
		s.apiFail(w, r, err, "decommissioning agent "+strconv.Quote(r.PathValue("name")))
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *server) apiEnableAgent(w http.ResponseWriter, r *http.Request) {
	res, err := s.doEnableAgent(r, r.PathValue("name"))
	if err != nil {
		s.apiFail(w, r, err, "enabling agent "+strconv.Quote(r.PathValue("name")))
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// The actions, shared by the API and the dashboard. Each is logged: an
// operator changed what main does.

func (s *server) doResync(r *http.Request) (actionJSON, error) {
	ctx, cancel := backendCtx(r)
	defer cancel()
	if err := s.backend.Resync(ctx); err != nil {
		return actionJSON{}, err
	}
	s.logger.Info("resync requested", "remote", r.RemoteAddr)
	return actionJSON{Action: "resync", Message: "every planner will reconcile now"}, nil
}

func (s *server) doCancelDelete(r *http.Request, hostname string) (actionJSON, error) {
	hostname = strings.ToLower(hostname)
	ctx, cancel := backendCtx(r)
	defer cancel()
	if err := s.backend.CancelDelete(ctx, hostname); err != nil {
		return actionJSON{}, err
	}
	s.logger.Info("pending delete cancelled", "hostname", hostname, "remote", r.RemoteAddr)
	return actionJSON{Action: "cancel_delete", Target: hostname,
		Message: "the delete of " + hostname + " is cancelled; its objects are retained"}, nil
}

func (s *server) doDecommission(r *http.Request, agent string) (actionJSON, error) {
	ctx, cancel := backendCtx(r)
	defer cancel()
	if err := s.backend.Decommission(ctx, agent); err != nil {
		return actionJSON{}, err
	}
	s.logger.Info("agent decommissioned", "agent", agent, "remote", r.RemoteAddr)
	return actionJSON{Action: "decommission", Target: agent,
		Message: "agent " + agent + " is decommissioned; its hostnames leave after the grace period"}, nil
}

func (s *server) doEnableAgent(r *http.Request, agent string) (actionJSON, error) {
	ctx, cancel := backendCtx(r)
	defer cancel()
	if err := s.backend.EnableAgent(ctx, agent); err != nil {
		return actionJSON{}, err
	}
	s.logger.Info("agent enabled", "agent", agent, "remote", r.RemoteAddr)
	return actionJSON{Action: "enable", Target: agent,
		Message: "agent " + agent + " is enabled: main accepts it again, and its hostnames come back once it reports its containers"}, nil
}
