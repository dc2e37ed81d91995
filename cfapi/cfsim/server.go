package cfsim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TB is the part of testing.TB NewServer needs (so the package does not
// import "testing" into the binary).
type TB interface {
	Helper()
	Cleanup(func())
}

// Option configures a Server.
type Option func(*Server)

// WithToken sets the API token the server accepts (default "cfsim-token").
func WithToken(token string) Option { return func(s *Server) { s.Token = token } }

// WithAccountID sets the account id (default a random 32-hex id).
func WithAccountID(id string) Option { return func(s *Server) { s.AccountID = id } }

// WithClock replaces time.Now, e.g. with a fake clock so rate-limit tests
// need not sleep.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithRateLimit sets the sliding window (requests per window per token) and
// the lockout after it is exceeded. requests <= 0 disables rate limiting.
func WithRateLimit(requests int, window, lockout time.Duration) Option {
	return func(s *Server) { s.rl = RateLimit{Requests: requests, Window: window, Lockout: lockout} }
}

// WithBatchCap sets the maximum operations per DNS batch call.
func WithBatchCap(n int) Option { return func(s *Server) { s.batchCap = n } }

// WithPerPageMax lowers every list endpoint's maximum per_page to n, so tests
// can page across several pages without seeding thousands of objects.
func WithPerPageMax(n int) Option { return func(s *Server) { s.perPageMax = n } }

// Server is an in-memory Cloudflare API. It is an http.Handler; NewServer
// also runs it on a loopback listener. All methods are safe for concurrent
// use; every API request runs under one mutex, so requests are serialised
// exactly as a single Cloudflare region would order them.
type Server struct {
	// URL is the base URL to give the client (set by NewServer and Main).
	URL string
	// Token is the accepted API token; AccountID the simulated account.
	Token     string
	AccountID string

	mu       sync.Mutex
	now      func() time.Time
	st       *state
	tokens   map[string]*tokenInfo
	rl       RateLimit
	rate     map[string]*rateState
	faults   faultState
	audit    []AuditEntry
	batchCap int
	// perPageMax, when > 0, caps every endpoint's per_page (tests).
	perPageMax int
	mux        *http.ServeMux
	ts         *httptest.Server
}

type tokenInfo struct {
	ID       string
	Name     string
	ReadOnly bool
	// Denied are the API areas (see areaOf) the token has no permission
	// for: Cloudflare answers 403 10000 "Authentication error" there.
	Denied []string
	// AccountOwned tokens are refused by /user/tokens/verify (403) and
	// verified by /accounts/{id}/tokens/verify, as Cloudflare does.
	AccountOwned bool
}

// New builds a Server without a listener (use it as an http.Handler).
func New(opts ...Option) *Server {
	s := &Server{
		Token:     "cfsim-token",
		AccountID: newID(),
		now:       time.Now,
		rl:        RateLimit{Requests: DefaultRateLimitRequests, Window: DefaultRateLimitWindow, Lockout: DefaultRateLimitWindow},
		rate:      map[string]*rateState{},
		batchCap:  DefaultBatchCap,
	}
	for _, o := range opts {
		o(s)
	}
	if s.rl.Lockout <= 0 {
		s.rl.Lockout = s.rl.Window
	}
	s.st = newState(s.AccountID)
	s.tokens = map[string]*tokenInfo{s.Token: {ID: newID(), Name: "main"}}
	s.faults.init(1)
	s.routes()
	return s
}

// NewServer starts a Server on 127.0.0.1 for the duration of a test.
func NewServer(t TB, opts ...Option) *Server {
	t.Helper()
	s := New(opts...)
	s.ts = httptest.NewServer(s)
	s.URL = s.ts.URL
	t.Cleanup(s.ts.Close)
	return s
}

// AddToken accepts another token; a read-only token gets 403 on writes.
func (s *Server) AddToken(token, name string, readOnly bool) {
	s.addToken(&tokenInfo{ID: newID(), Name: name, ReadOnly: readOnly}, token)
}

func (s *Server) addToken(info *tokenInfo, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = info
}

// AddTokenWithout accepts a token that lacks the permission of the given
// API areas: "zones" (the zone list), "dns" (a zone's records), "tunnel"
// (cfd_tunnel) and "access" (Access apps and policies). A call there gets
// 403 10000 "Authentication error", as a real token without the
// permission does.
func (s *Server) AddTokenWithout(token, name string, areas ...string) {
	s.addToken(&tokenInfo{ID: newID(), Name: name, Denied: slices.Clone(areas)}, token)
}

// areaOf is the permission area of an API path (without /client/v4), or
// "" for paths every valid token may use (token verification).
func areaOf(path string) string {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(seg) == 1 && seg[0] == "zones":
		return "zones"
	case len(seg) >= 3 && seg[0] == "zones" && seg[2] == "dns_records":
		return "dns"
	case len(seg) >= 3 && seg[0] == "accounts" && seg[2] == "cfd_tunnel":
		return "tunnel"
	case len(seg) >= 3 && seg[0] == "accounts" && seg[2] == "access":
		return "access"
	}
	return ""
}

// AddAccountToken accepts an account-owned token: it works everywhere but
// GET /user/tokens/verify, which answers 403 as for account tokens.
func (s *Server) AddAccountToken(token, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = &tokenInfo{ID: newID(), Name: name, AccountOwned: true}
}

// SetBatchCap changes the DNS batch operation cap.
func (s *Server) SetBatchCap(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batchCap = n
}

// reqCtx is one API request being served.
type reqCtx struct {
	w      http.ResponseWriter
	r      *http.Request
	body   []byte
	token  *tokenInfo
	query  url.Values
	status int
	// perPageMax copies Server.perPageMax for paginate.
	perPageMax int
	ids        []string // objects written
	foreign    bool     // a foreign object was written
}

func (c *reqCtx) touch(id string, foreign bool) {
	c.ids = append(c.ids, id)
	c.foreign = c.foreign || foreign
}

type envelopeErr struct {
	Code    int           `json:"code"`
	Message string        `json:"message"`
	Chain   []envelopeErr `json:"error_chain,omitempty"`
}

type envelope struct {
	Success    bool          `json:"success"`
	Errors     []envelopeErr `json:"errors"`
	Messages   []envelopeErr `json:"messages"`
	Result     any           `json:"result"`
	ResultInfo *ResultInfo   `json:"result_info,omitempty"`
}

// ResultInfo is Cloudflare's paging block.
type ResultInfo struct {
	Page       int `json:"page"`
	PerPage    int `json:"per_page"`
	Count      int `json:"count"`
	TotalCount int `json:"total_count"`
	TotalPages int `json:"total_pages"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func toEnvelopeErr(e apiError) envelopeErr {
	out := envelopeErr{Code: e.Code, Message: e.Message}
	for _, c := range e.Chain {
		out.Chain = append(out.Chain, toEnvelopeErr(c))
	}
	return out
}

func (c *reqCtx) ok(result any) { c.okWith(http.StatusOK, result, nil, nil) }

func (c *reqCtx) okWith(status int, result any, info *ResultInfo, msgs []envelopeErr) {
	c.status = status
	if msgs == nil {
		msgs = []envelopeErr{}
	}
	writeJSON(c.w, status, envelope{Success: true, Errors: []envelopeErr{}, Messages: msgs, Result: result, ResultInfo: info})
}

func (c *reqCtx) fail(errs ...apiError) {
	c.status = errs[0].Status
	out := make([]envelopeErr, 0, len(errs))
	for _, e := range errs {
		out = append(out, toEnvelopeErr(e))
	}
	writeJSON(c.w, c.status, envelope{Success: false, Errors: out, Messages: []envelopeErr{}, Result: nil})
}

// decode reads the JSON body into v (numbers as json.Number).
func (c *reqCtx) decode(v any) bool {
	dec := json.NewDecoder(bytes.NewReader(c.body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		c.fail(errMalformedJSON)
		return false
	}
	return true
}

// paginate slices items by the request's page/per_page.
func paginate[T any](c *reqCtx, items []T, lim pageLimit) ([]T, *ResultInfo) {
	if c.perPageMax > 0 && c.perPageMax < lim.max {
		lim.max = c.perPageMax
		lim.def = min(lim.def, lim.max)
	}
	page, _ := strconv.Atoi(c.query.Get("page"))
	if page < 1 {
		page = 1
	}
	per, _ := strconv.Atoi(c.query.Get("per_page"))
	if per < 1 {
		per = lim.def
	}
	if per > lim.max {
		per = lim.max
	}
	total := len(items)
	pages := int(math.Ceil(float64(total) / float64(per)))
	start := (page - 1) * per
	var out []T
	if start < total {
		out = items[start:min(start+per, total)]
	}
	if out == nil {
		out = []T{}
	}
	return out, &ResultInfo{Page: page, PerPage: per, Count: len(out), TotalCount: total, TotalPages: pages}
}

const apiPrefix = "/client/v4"

// ServeHTTP serves the API and the admin endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if strings.HasPrefix(path, apiPrefix+"/") {
		path = strings.TrimPrefix(path, apiPrefix)
	}
	if strings.HasPrefix(path, adminPrefix) {
		s.serveAdmin(w, r, strings.TrimPrefix(path, adminPrefix))
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	c := &reqCtx{w: w, r: r, body: body, query: r.URL.Query(), perPageMax: s.perPageMax}
	entry := AuditEntry{
		Method: r.Method, Path: path, Query: r.URL.RawQuery, BodySize: len(body),
		Header: redactedHeader(r.Header),
	}

	// Faults first: they stand for the network and Cloudflare's edge.
	fault, delay := s.pickFault(path)
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	entry.Time = s.now()
	defer func() {
		entry.Status = c.status
		entry.IDs = c.ids
		entry.Foreign = c.foreign
		if c.token != nil {
			entry.Token = c.token.Name
		}
		s.appendAudit(entry)
	}()
	switch fault.kind {
	case faultDrop:
		entry.Fault = "drop"
		c.status = 0
		dropConnection(w)
		return
	case faultStorm:
		entry.Fault = "429-storm"
		c.w.Header().Set("Retry-After", strconv.Itoa(ceilSeconds(fault.retryAfter)))
		c.fail(errRateLimited)
		return
	case faultError:
		entry.Fault = "5xx"
		e := errInjectedServerErr
		e.Status = fault.status
		c.fail(e)
		return
	}
	if delay > 0 {
		entry.Fault = "latency"
	}

	tok, aerr := s.authenticate(r, path)
	if aerr != nil {
		c.fail(*aerr)
		return
	}
	c.token = tok
	if wait, ok := s.allow(tok); !ok {
		c.w.Header().Set("Retry-After", strconv.Itoa(ceilSeconds(wait)))
		entry.Fault = "rate-limit"
		c.fail(errRateLimited)
		return
	}
	// Route on a copy whose path has the optional /client/v4 prefix removed.
	r2 := r.Clone(r.Context())
	r2.URL.Path = path
	h, pattern := s.mux.Handler(r2)
	if pattern == "" {
		c.fail(errNoRoute)
		return
	}
	if area := areaOf(path); area != "" && slices.Contains(tok.Denied, area) {
		c.fail(errAuthentication)
		return
	}
	if tok.ReadOnly && r.Method != http.MethodGet {
		c.fail(methodNotAllowed(r.Method))
		return
	}
	_ = h
	s.mux.ServeHTTP(w, r2.WithContext(context.WithValue(r2.Context(), reqCtxKey{}, c)))
}

type reqCtxKey struct{}

// api adapts a handler of one API request to the mux; ServeHTTP has put the
// request's reqCtx into the context and holds s.mu.
type api func(c *reqCtx, r *http.Request)

func (f api) ServeHTTP(_ http.ResponseWriter, r *http.Request) {
	f(r.Context().Value(reqCtxKey{}).(*reqCtx), r)
}

func ceilSeconds(d time.Duration) int {
	return int(math.Ceil(d.Seconds()))
}

// authenticate checks the bearer token like Cloudflare: no credentials at
// all, a malformed header, or an unknown token each get their own error.
func (s *Server) authenticate(r *http.Request, path string) (*tokenInfo, *apiError) {
	h := r.Header.Get("Authorization")
	if h == "" {
		if r.Header.Get("X-Auth-Key") == "" && r.Header.Get("X-Auth-Email") == "" {
			return nil, &errMissingAuth
		}
		// Global API keys are not simulated: only tokens exist here.
		return nil, &errAuthentication
	}
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" || strings.ContainsAny(tok, " \t") {
		return nil, &errBadAuthHeader
	}
	info := s.tokens[tok]
	if info == nil {
		if strings.HasSuffix(path, "/tokens/verify") {
			return nil, &errInvalidToken
		}
		return nil, &errInvalidAccess
	}
	return info, nil
}

func redactedHeader(h http.Header) map[string][]string {
	out := make(map[string][]string, len(h))
	for k, v := range h {
		if strings.EqualFold(k, "Authorization") || strings.EqualFold(k, "X-Auth-Key") {
			out[k] = []string{"<redacted>"}
			continue
		}
		out[k] = append([]string(nil), v...)
	}
	return out
}

// dropConnection hijacks the connection and closes it without answering.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}
