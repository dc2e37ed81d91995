package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labelgate/labelgate/cfapi/cfsim"
)

// SimClient drives a cfsim container from the test process: its admin
// endpoints (/__cfsim/…, no token, never audited or faulted) and, for what a
// user would do by hand, the Cloudflare API itself.
type SimClient struct {
	t testing.TB
	// Base is http://127.0.0.1:<published port>.
	Base    string
	Token   string
	Account string
	http    *http.Client
}

// NewSimClient talks to cfsim at base (http://host:port).
func NewSimClient(t testing.TB, base, token, account string) *SimClient {
	return &SimClient{t: t, Base: base, Token: token, Account: account, http: &http.Client{Timeout: 10 * time.Second}}
}

// do sends a request and decodes the envelope's result into out (if not nil).
func (s *SimClient) do(method, path string, body []byte, auth bool, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.Base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if auth {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	res, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	var env struct {
		Success bool            `json:"success"`
		Errors  json.RawMessage `json:"errors"`
		Result  json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return fmt.Errorf("%s %s: HTTP %d, not an API envelope: %.200s", method, path, res.StatusCode, data)
	}
	if !env.Success {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, res.StatusCode, env.Errors)
	}
	if out != nil {
		return json.Unmarshal(env.Result, out)
	}
	return nil
}

func (s *SimClient) must(err error, what string) {
	s.t.Helper()
	if err != nil {
		s.t.Fatalf("cfsim %s: %v", what, err)
	}
}

// Ready waits until the simulator answers.
func (s *SimClient) Ready(within time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := s.do(http.MethodGet, "/__cfsim/faults", nil, false, nil)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("cfsim at %s does not answer: %v", s.Base, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// State is GET /__cfsim/state.
func (s *SimClient) State() (cfsim.StateDump, error) {
	var d cfsim.StateDump
	err := s.do(http.MethodGet, "/__cfsim/state", nil, false, &d)
	return d, err
}

// MustState is State that fails the test on error.
func (s *SimClient) MustState() cfsim.StateDump {
	s.t.Helper()
	d, err := s.State()
	s.must(err, "state")
	return d
}

// Audit is GET /__cfsim/audit: every API request so far, oldest first.
func (s *SimClient) Audit() []cfsim.AuditEntry {
	s.t.Helper()
	var a []cfsim.AuditEntry
	s.must(s.do(http.MethodGet, "/__cfsim/audit", nil, false, &a), "audit")
	return a
}

// ResetAudit is DELETE /__cfsim/audit.
func (s *SimClient) ResetAudit() {
	s.t.Helper()
	s.must(s.do(http.MethodDelete, "/__cfsim/audit", nil, false, nil), "audit reset")
}

// Seed is POST /__cfsim/seed: everything it creates is foreign.
func (s *SimClient) Seed(yaml string) {
	s.t.Helper()
	s.must(s.do(http.MethodPost, "/__cfsim/seed", []byte(yaml), false, nil), "seed")
}

// SimFaults is the JSON of PUT /__cfsim/faults (durations as "2s").
type SimFaults struct {
	ErrorRate       float64 `json:"error_rate,omitempty"`
	FailNext        int     `json:"fail_next,omitempty"`
	Storm429For     string  `json:"storm_429_for,omitempty"`
	Storm429Next    int     `json:"storm_429_next,omitempty"`
	StormRetryAfter string  `json:"storm_retry_after,omitempty"`
	Seed            uint64  `json:"seed,omitempty"`
}

// SetFaults is PUT /__cfsim/faults; the zero value switches them off.
func (s *SimClient) SetFaults(f SimFaults) {
	s.t.Helper()
	b, _ := json.Marshal(f)
	s.must(s.do(http.MethodPut, "/__cfsim/faults", b, false, nil), "faults")
}

// SetRateLimit is PUT /__cfsim/ratelimit: requests per window per token,
// and the lockout after the request over it.
func (s *SimClient) SetRateLimit(requests int, window, lockout time.Duration) {
	s.t.Helper()
	b, _ := json.Marshal(cfsim.SeedRateLimit{Requests: requests, Window: window.String(), Lockout: lockout.String()})
	s.must(s.do(http.MethodPut, "/__cfsim/ratelimit", b, false, nil), "rate limit")
}

// PutTunnelConfig writes a tunnel's configuration through the Cloudflare
// API, as a user does in the dashboard.
func (s *SimClient) PutTunnelConfig(tunnelID, config string) {
	s.t.Helper()
	body := []byte(`{"config":` + config + `}`)
	s.must(s.do(http.MethodPut, "/client/v4/accounts/"+s.Account+"/cfd_tunnel/"+tunnelID+"/configurations", body, true, nil), "tunnel configuration")
}

// Rule is one ingress rule of a tunnel configuration.
type Rule struct {
	Hostname string `json:"hostname,omitempty"`
	Path     string `json:"path,omitempty"`
	Service  string `json:"service"`
}

// Key is hostname plus path, the identity of a rule.
func (r Rule) Key() string { return strings.TrimSpace(r.Hostname + " " + r.Path) }

// Snapshot is what the simulator held at one moment, reduced to what the
// scenarios check.
type Snapshot struct {
	At time.Time
	// Version is the tunnel configuration's version (one per PUT).
	Version int
	Rules   []Rule
	// RawRules are the rules as stored, to compare foreign ones verbatim.
	RawRules []json.RawMessage
	// Records maps "TYPE name" to the ids of the records with that type and
	// name (more than one id is a duplicate).
	Records map[string][]string
	// Contents maps a record id to its content.
	Contents map[string]string
	// Foreign holds the ids of foreign records, Access apps and policies.
	Foreign map[string]bool
	Apps    []cfsim.AccessApp
	// Policies holds the ids of the reusable Access policies.
	Policies map[string]bool
	// Config is the whole tunnel configuration document.
	Config json.RawMessage
}

// SnapshotOf reduces a state dump to the tunnel tunnelID and the zone's
// records.
func SnapshotOf(d cfsim.StateDump, tunnelID string) (Snapshot, error) {
	sn := Snapshot{At: time.Now(), Records: map[string][]string{}, Contents: map[string]string{}, Foreign: map[string]bool{},
		Apps: d.Apps, Policies: map[string]bool{}}
	for _, z := range d.Zones {
		for _, r := range z.Records {
			k := r.Type + " " + r.Name
			sn.Records[k] = append(sn.Records[k], r.ID)
			sn.Contents[r.ID] = r.Content
		}
		for _, id := range z.ForeignIDs {
			sn.Foreign[id] = true
		}
	}
	for _, a := range d.Apps {
		if a.Foreign {
			sn.Foreign[a.ID] = true
		}
	}
	for _, p := range d.Policies {
		sn.Policies[p.ID] = true
		if p.Foreign {
			sn.Foreign[p.ID] = true
		}
	}
	for _, t := range d.Tunnels {
		if t.ID != tunnelID || t.Config == nil {
			continue
		}
		sn.Version = t.Config.Version
		sn.Config = t.Config.Config
		var doc struct {
			Ingress []json.RawMessage `json:"ingress"`
		}
		if err := json.Unmarshal(t.Config.Config, &doc); err != nil {
			return sn, fmt.Errorf("tunnel configuration: %w", err)
		}
		sn.RawRules = doc.Ingress
		for _, raw := range doc.Ingress {
			var r Rule
			if err := json.Unmarshal(raw, &r); err != nil {
				return sn, fmt.Errorf("ingress rule %s: %w", raw, err)
			}
			sn.Rules = append(sn.Rules, r)
		}
	}
	return sn, nil
}

// Rule returns the rule for a hostname (no path).
func (sn Snapshot) Rule(host string) (Rule, bool) {
	for _, r := range sn.Rules {
		if r.Hostname == host && r.Path == "" {
			return r, true
		}
	}
	return Rule{}, false
}

// RuleCount counts the rules with this hostname (any path).
func (sn Snapshot) RuleCount(host string) int {
	n := 0
	for _, r := range sn.Rules {
		if r.Hostname == host {
			n++
		}
	}
	return n
}

// Record returns the id of the one record of this type and name.
func (sn Snapshot) Record(typ, name string) (string, bool) {
	ids := sn.Records[typ+" "+name]
	if len(ids) != 1 {
		return "", false
	}
	return ids[0], true
}

// Duplicates lists record keys held more than once and hostnames with more
// than one rule for the same path.
func (sn Snapshot) Duplicates() []string {
	var out []string
	for k, ids := range sn.Records {
		if len(ids) > 1 {
			out = append(out, fmt.Sprintf("%d records %s", len(ids), k))
		}
	}
	seen := map[string]int{}
	for _, r := range sn.Rules {
		seen[r.Key()]++
	}
	for k, n := range seen {
		if n > 1 {
			out = append(out, fmt.Sprintf("%d rules %q", n, k))
		}
	}
	slices.Sort(out)
	return out
}

// Watcher polls the simulator's state in the background and keeps every
// distinct snapshot, so a scenario can prove that something was never
// absent — even for a moment between two checks. Tunnel configuration
// versions count PUTs; a jump of more than one between two polls means a
// state was missed (Gaps).
type Watcher struct {
	sim    *SimClient
	tunnel string
	stop   chan struct{}
	done   chan struct{}

	mu    sync.Mutex
	snaps []Snapshot
	gaps  int
	errs  int
}

// Watch starts polling every interval until the test ends.
func (s *SimClient) Watch(tunnelID string, interval time.Duration) *Watcher {
	w := &Watcher{sim: s, tunnel: tunnelID, stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop(interval)
	s.t.Cleanup(w.Stop)
	return w
}

// Stop ends the polling (idempotent).
func (w *Watcher) Stop() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

func (w *Watcher) loop(interval time.Duration) {
	defer close(w.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		w.poll()
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
	}
}

func (w *Watcher) poll() {
	d, err := w.sim.State()
	var sn Snapshot
	if err == nil {
		sn, err = SnapshotOf(d, w.tunnel)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.errs++
		return
	}
	if n := len(w.snaps); n > 0 {
		last := w.snaps[n-1]
		if sn.Version > last.Version+1 {
			w.gaps++
		}
		if sn.Version == last.Version && sameRecords(sn, last) {
			return // nothing changed; keep memory flat
		}
	}
	w.snaps = append(w.snaps, sn)
}

func sameRecords(a, b Snapshot) bool {
	if len(a.Records) != len(b.Records) || len(a.Contents) != len(b.Contents) {
		return false
	}
	for id, c := range a.Contents {
		if b.Contents[id] != c {
			return false
		}
	}
	return true
}

// Since returns the distinct snapshots taken at or after t (the last one
// before t first, as the state in force at t).
func (w *Watcher) Since(t time.Time) []Snapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	i, _ := slices.BinarySearchFunc(w.snaps, t, func(s Snapshot, t time.Time) int { return s.At.Compare(t) })
	if i > 0 {
		i--
	}
	return slices.Clone(w.snaps[i:])
}

// Gaps is the number of tunnel configuration versions that were replaced
// before a poll saw them; Errors the failed polls.
func (w *Watcher) Gaps() (gaps, errs int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gaps, w.errs
}

// Live is what must stay published: a hostname with its tunnel rule's
// service (or "" for any) and the id of its proxied CNAME.
type Live struct {
	Host, Service, RecordID string
	// Since is when the hostname became live; earlier snapshots are not
	// checked for it.
	Since time.Time
}

// NeverGone checks every snapshot since t (and since each hostname's own
// Since): each live hostname keeps a rule
// (with the service, when given) and its CNAME keeps the same record id —
// a delete followed by a create would give it a new one. It returns one
// line per violation, the first per hostname.
func (w *Watcher) NeverGone(since time.Time, live []Live) []string {
	var out []string
	bad := map[string]bool{}
	for _, sn := range w.Since(since) {
		for _, l := range live {
			if bad[l.Host] || sn.At.Before(l.Since) {
				continue
			}
			r, ok := sn.Rule(l.Host)
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("%s: no tunnel rule at %s (config version %d)", l.Host, sn.At.Format("15:04:05.000"), sn.Version))
			case l.Service != "" && r.Service != l.Service:
				out = append(out, fmt.Sprintf("%s: rule points at %s, want %s (config version %d)", l.Host, r.Service, l.Service, sn.Version))
			default:
				if id, _ := sn.Record("CNAME", l.Host); l.RecordID != "" && id != l.RecordID {
					out = append(out, fmt.Sprintf("%s: CNAME %s at %s, want the same record %s all along", l.Host, cmpOrNone(id), sn.At.Format("15:04:05.000"), l.RecordID))
				} else {
					continue
				}
			}
			bad[l.Host] = true
		}
	}
	return out
}

func cmpOrNone(s string) string {
	if s == "" {
		return "missing"
	}
	return s
}

// RouteFor asks cfsim which service the tunnel sends a request for host and
// path to (cloudflared's first matching rule); "" when none matches.
func (s *SimClient) RouteFor(tunnelID, host, path string) string {
	s.t.Helper()
	var out struct{ Service string }
	q := url.Values{"tunnel": {tunnelID}, "host": {host}, "path": {path}}
	if err := s.do(http.MethodGet, "/__cfsim/tunnel/route?"+q.Encode(), nil, false, &out); err != nil {
		return ""
	}
	return out.Service
}

// GoverningApp asks cfsim which Access application governs a request for
// host and path (the most specific); "" when none covers it.
func (s *SimClient) GoverningApp(host, path string) string {
	s.t.Helper()
	var out cfsim.AccessApp
	q := url.Values{"host": {host}, "path": {path}}
	if err := s.do(http.MethodGet, "/__cfsim/access/governing?"+q.Encode(), nil, false, &out); err != nil {
		return ""
	}
	return out.Domain
}

// SetConnectors replaces a tunnel's connectors in cfsim: none makes a
// tunnel that had connections "down", as Cloudflare reports it.
func (s *SimClient) SetConnectors(tunnel, doc string) {
	s.t.Helper()
	s.must(s.do(http.MethodPut, "/__cfsim/tunnels/"+tunnel+"/connectors", []byte(doc), false, nil), "tunnel connectors")
}
