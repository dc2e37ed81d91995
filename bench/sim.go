package bench

import (
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/cfapi/cfsim"
)

// Zone is the zone every scenario's hostnames live in.
const Zone = "example.com"

// Sim is cfsim with the zone and the tunnel every scenario uses. Over
// loopback its URL is a real listener; in memory (for synctest bubbles,
// where sockets would leave the bubble) HTTPClient hands each request
// straight to the server, through the real SDK all the same.
type Sim struct {
	*cfsim.Server
	ZoneID   string
	TunnelID string
	// HTTPClient is the client main's cfapi must use (nil over loopback).
	HTTPClient *http.Client
	srv        *http.Server
}

// NewSim starts cfsim on 127.0.0.1 (loopback) or in memory, with cfsim's
// default rate limit (1,200 requests per 300 s per token) unless opts say
// otherwise.
func NewSim(loopback bool, opts ...cfsim.Option) (*Sim, error) {
	s := &Sim{Server: cfsim.New(opts...)}
	s.ZoneID = s.AddZone(cfsim.Zone{Name: Zone}).ID
	s.TunnelID = s.AddTunnel(cfsim.Tunnel{Name: "bench"}).ID
	if !loopback {
		s.URL = "http://cfsim.invalid/client/v4"
		s.HTTPClient = &http.Client{Transport: inMemory{s.Server}}
		return s, nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for cfsim: %w", err)
	}
	s.URL = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s.Server, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the listener, if any.
func (s *Sim) Close() {
	if s.srv != nil {
		_ = s.srv.Close()
	}
}

// inMemory is an http.RoundTripper that serves requests with a handler in
// the caller's goroutine.
type inMemory struct{ h http.Handler }

func (t inMemory) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil {
		req.Body = http.NoBody
	}
	w := httptest.NewRecorder()
	t.h.ServeHTTP(w, req)
	return w.Result(), nil
}

// Rules returns the live ingress of the bench tunnel as hostname → service
// (the catch-all under "").
func (s *Sim) Rules() map[string]string {
	out := map[string]string{}
	tc, ok := s.TunnelConfigOf(s.TunnelID)
	if !ok {
		return out
	}
	var doc cfapi.TunnelConfig
	if err := doc.UnmarshalJSON(tc.Config); err != nil {
		return out
	}
	for _, r := range doc.Ingress {
		out[r.Hostname] = r.Service
	}
	return out
}

// RuleCount is the number of hostname rules (the catch-all not counted).
func (s *Sim) RuleCount() int {
	n := len(s.Rules())
	if _, ok := s.Rules()[""]; ok {
		n--
	}
	return n
}

// RecordCount is the number of records in the bench zone.
func (s *Sim) RecordCount() int { return len(s.Records(s.ZoneID)) }

// Calls counts audited API requests.
type Calls struct {
	Total  int `json:"total"`
	Reads  int `json:"reads"`
	Writes int `json:"writes"`
	// RateLimited counts 429s of cfsim's own rate limit (the ones a client
	// causes), Faults those injected on purpose.
	RateLimited int            `json:"rate_limited"`
	Faults      int            `json:"faults"`
	Failed      int            `json:"failed"` // other non-2xx answers
	ByEndpoint  map[string]int `json:"by_endpoint"`
	First, Last time.Time      `json:"-"`
}

// CountCalls classifies audit entries.
func CountCalls(entries []cfsim.AuditEntry) Calls {
	c := Calls{ByEndpoint: map[string]int{}}
	for i, e := range entries {
		if i == 0 {
			c.First = e.Time
		}
		c.Last = e.Time
		c.Total++
		if e.IsWrite() {
			c.Writes++
		} else {
			c.Reads++
		}
		switch {
		case e.Fault == "rate-limit":
			c.RateLimited++
		case e.Fault != "":
			c.Faults++
		case e.Status >= 300 || e.Status == 0:
			c.Failed++
		}
		c.ByEndpoint[Endpoint(e.Method, e.Path)]++
	}
	return c
}

var idSegment = regexp.MustCompile(`/[0-9a-f]{32}|/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// Endpoint names an API request by method and path with ids elided:
// "PUT /accounts/{id}/cfd_tunnel/{id}/configurations".
func Endpoint(method, path string) string {
	return method + " " + idSegment.ReplaceAllString(path, "/{id}")
}

// Breakdown renders ByEndpoint as "n × endpoint" in a stable order.
func (c Calls) Breakdown() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c.ByEndpoint)) {
		parts = append(parts, fmt.Sprintf("%d× %s", c.ByEndpoint[k], shortEndpoint(k)))
	}
	return strings.Join(parts, ", ")
}

// shortEndpoint abbreviates the endpoints the pipeline calls.
func shortEndpoint(e string) string {
	method, path, _ := strings.Cut(e, " ")
	switch {
	case path == "/zones":
		return method + " zones"
	case strings.HasSuffix(path, "/dns_records/batch"):
		return method + " dns batch"
	case strings.HasSuffix(path, "/dns_records"):
		return method + " dns_records"
	case strings.HasSuffix(path, "/configurations"):
		return method + " tunnel config"
	case strings.HasSuffix(path, "/access/apps"):
		return method + " access apps"
	case strings.HasSuffix(path, "/access/policies"):
		return method + " access policies"
	}
	return e
}
