package cfsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Seed is the YAML (or JSON) seed format, used by the seed file of
// `labelgate cfsim --seed FILE` and by POST /__cfsim/seed. Everything a seed
// creates is foreign: "created by someone else", which Labelgate must never
// change.
//
//	account: 0123456789abcdef0123456789abcdef   # start-up only
//	token: my-token                             # start-up only
//	tokens: [{token: ro-token, name: readonly, read_only: true}, {token: no-access, deny: [access]}]
//	batch_cap: 200
//	rate_limit: {requests: 1200, window: 300s, lockout: 300s}
//	zones:
//	  - name: example.com
//	    plan: free                              # free|pro|business|enterprise
//	    records:
//	      - {name: www, type: A, content: 192.0.2.1, proxied: true, comment: by hand}
//	tunnels:
//	  - name: default
//	    id: 6ff42ae2-765d-4adf-8112-31c55c1551ef
//	    status: healthy                         # healthy|degraded|down|inactive; default follows connectors
//	    connectors:                             # default: one simulated connector when healthy
//	      - {version: 2025.11.1, conns: [{colo_name: ams01, origin_ip: 192.0.2.10}]}
//	    config:                                 # mapping or JSON string
//	      ingress:
//	        - {hostname: legacy.example.com, service: "http://legacy:80"}
//	        - {service: "http_status:404"}
//	access:
//	  policies: [{name: team, decision: allow, include: [{email_domain: {domain: example.com}}]}]
//	  apps: [{name: wiki, domain: wiki.example.com, type: self_hosted, policies: [team]}]
type Seed struct {
	Account   string         `yaml:"account" json:"account"`
	Token     string         `yaml:"token" json:"token"`
	Tokens    []SeedToken    `yaml:"tokens" json:"tokens"`
	BatchCap  int            `yaml:"batch_cap" json:"batch_cap"`
	RateLimit *SeedRateLimit `yaml:"rate_limit" json:"rate_limit"`
	Zones     []SeedZone     `yaml:"zones" json:"zones"`
	Tunnels   []SeedTunnel   `yaml:"tunnels" json:"tunnels"`
	Access    SeedAccess     `yaml:"access" json:"access"`
}

// SeedToken is an extra accepted token.
type SeedToken struct {
	Token    string `yaml:"token" json:"token"`
	Name     string `yaml:"name" json:"name"`
	ReadOnly bool   `yaml:"read_only" json:"read_only"`
	// Deny lists API areas the token has no permission for (zones, dns,
	// tunnel, access; see Server.AddTokenWithout).
	Deny []string `yaml:"deny" json:"deny"`
}

// SeedRateLimit sets the rate limit; durations in Go syntax ("300s").
type SeedRateLimit struct {
	Requests int    `yaml:"requests" json:"requests"`
	Window   string `yaml:"window" json:"window"`
	Lockout  string `yaml:"lockout" json:"lockout"`
}

// SeedZone is a zone with its foreign records.
type SeedZone struct {
	ID      string       `yaml:"id" json:"id"`
	Name    string       `yaml:"name" json:"name"`
	Plan    string       `yaml:"plan" json:"plan"`
	Status  string       `yaml:"status" json:"status"`
	Records []SeedRecord `yaml:"records" json:"records"`
}

// SeedRecord is a foreign DNS record.
type SeedRecord struct {
	Name     string         `yaml:"name" json:"name"`
	Type     string         `yaml:"type" json:"type"`
	Content  string         `yaml:"content" json:"content"`
	TTL      int            `yaml:"ttl" json:"ttl"`
	Proxied  bool           `yaml:"proxied" json:"proxied"`
	Comment  string         `yaml:"comment" json:"comment"`
	Priority *int           `yaml:"priority" json:"priority"`
	Data     map[string]any `yaml:"data" json:"data"`
	Tags     []string       `yaml:"tags" json:"tags"`
}

// SeedTunnel is a tunnel with an optional (foreign) configuration and
// optional connectors (Cloudflare's client shape; without them a healthy
// tunnel gets one simulated connector, see AddTunnel).
type SeedTunnel struct {
	ID         string            `yaml:"id" json:"id"`
	Name       string            `yaml:"name" json:"name"`
	Status     string            `yaml:"status" json:"status"`
	ConfigSrc  string            `yaml:"config_src" json:"config_src"`
	Config     any               `yaml:"config" json:"config"`
	Connectors []TunnelConnector `yaml:"connectors" json:"connectors"`
}

// SeedAccess holds foreign Access objects as Cloudflare documents. An app's
// policies may name a seeded policy by name instead of id.
type SeedAccess struct {
	Policies []map[string]any `yaml:"policies" json:"policies"`
	Apps     []map[string]any `yaml:"apps" json:"apps"`
}

// ParseSeed reads a YAML or JSON seed document.
func ParseSeed(data []byte) (Seed, error) {
	var sd Seed
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&sd); err != nil && !errors.Is(err, io.EOF) {
		return Seed{}, fmt.Errorf("parsing seed: %w", err)
	}
	return sd, nil
}

// ApplySeed adds what sd describes. Account and Token are start-up settings
// (see Main) and are ignored here.
func (s *Server) ApplySeed(sd Seed) error {
	for _, t := range sd.Tokens {
		if t.Token == "" {
			return fmt.Errorf("seed: a token entry has no token")
		}
		name := t.Name
		if name == "" {
			name = "seeded"
		}
		for _, a := range t.Deny {
			if !slices.Contains([]string{"zones", "dns", "tunnel", "access"}, a) {
				return fmt.Errorf("seed: token %s denies %q; the areas are zones, dns, tunnel and access", name, a)
			}
		}
		s.addToken(&tokenInfo{ID: newID(), Name: name, ReadOnly: t.ReadOnly, Denied: slices.Clone(t.Deny)}, t.Token)
	}
	if sd.BatchCap > 0 {
		s.SetBatchCap(sd.BatchCap)
	}
	if sd.RateLimit != nil {
		rl := RateLimit{Requests: sd.RateLimit.Requests}
		var err error
		if rl.Window, err = parseDur(sd.RateLimit.Window, DefaultRateLimitWindow); err != nil {
			return fmt.Errorf("seed: rate_limit.window: %w", err)
		}
		if rl.Lockout, err = parseDur(sd.RateLimit.Lockout, rl.Window); err != nil {
			return fmt.Errorf("seed: rate_limit.lockout: %w", err)
		}
		s.SetRateLimit(rl)
	}
	for _, sz := range sd.Zones {
		z := s.AddZone(Zone{ID: sz.ID, Name: sz.Name, Plan: sz.Plan, Status: sz.Status})
		for i, sr := range sz.Records {
			_, err := s.AddRecord(z.ID, Record{
				Name: sr.Name, Type: sr.Type, Content: sr.Content, TTL: sr.TTL, Proxied: sr.Proxied,
				Comment: sr.Comment, Priority: sr.Priority, Data: sr.Data, Tags: sr.Tags, Foreign: true,
			})
			if err != nil {
				return fmt.Errorf("seed: zone %s record %d: %w", sz.Name, i, err)
			}
		}
	}
	for _, st := range sd.Tunnels {
		if !validStatus(st.Status) {
			return fmt.Errorf("seed: tunnel %s: status %q is not healthy, degraded, down or inactive", st.Name, st.Status)
		}
		t := s.AddTunnel(Tunnel{ID: st.ID, Name: st.Name, Status: st.Status, ConfigSrc: st.ConfigSrc, Connectors: st.Connectors, Foreign: true})
		if st.Config == nil {
			continue
		}
		var doc []byte
		if str, ok := st.Config.(string); ok {
			doc = []byte(str)
		} else {
			var err error
			if doc, err = json.Marshal(st.Config); err != nil {
				return fmt.Errorf("seed: tunnel %s config: %w", st.Name, err)
			}
		}
		if err := s.SetTunnelConfig(t.ID, doc); err != nil {
			return fmt.Errorf("seed: tunnel %s: %w", st.Name, err)
		}
	}
	byName := map[string]string{}
	for i, doc := range sd.Access.Policies {
		p, err := s.AddAccessPolicy(doc, true)
		if err != nil {
			return fmt.Errorf("seed: access policy %d: %w", i, err)
		}
		byName[p.Name] = p.ID
	}
	for i, doc := range sd.Access.Apps {
		if pols, ok := doc["policies"].([]any); ok {
			for j, p := range pols {
				if name, ok := p.(string); ok && byName[name] != "" {
					pols[j] = byName[name]
				}
			}
		}
		if _, ok := doc["type"]; !ok {
			doc["type"] = "self_hosted"
		}
		if _, err := s.AddAccessApp(doc, true); err != nil {
			return fmt.Errorf("seed: access app %d: %w", i, err)
		}
	}
	return nil
}

func parseDur(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	return time.ParseDuration(s)
}

// AddZone adds a zone (ID, account and status are filled in when empty).
func (s *Server) AddZone(z Zone) Zone {
	s.mu.Lock()
	defer s.mu.Unlock()
	z.Name = normName(z.Name)
	if z.ID == "" {
		z.ID = newID()
	}
	if z.AccountID == "" {
		z.AccountID = s.st.accountID
	}
	if z.Status == "" {
		z.Status = "active"
	}
	if z.Plan == "" {
		z.Plan = "free"
	}
	zz := z
	s.st.zones = append(s.st.zones, &zz)
	return z
}

// AddRecord adds a record after the API's own validation (set Foreign to
// seed someone else's record). A given ID must have the API's shape (32
// lowercase hex digits), or the record could not be reached through it.
func (s *Server) AddRecord(zoneID string, r Record) (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.st.zone(zoneID)
	if z == nil {
		return Record{}, fmt.Errorf("no zone %s", zoneID)
	}
	rec := cloneRecord(&r)
	rec.Type = strings.ToUpper(rec.Type)
	if rec.TTL == 0 {
		rec.TTL = 1
	}
	if e := s.validateRecord(z, rec); e != nil {
		return Record{}, fmt.Errorf("%d: %s", e.Code, e.Message)
	}
	if rec.ID == "" {
		rec.ID = newID()
	} else if !isObjectID(rec.ID) {
		return Record{}, fmt.Errorf("record id %q is not 32 lowercase hex digits; the API could not reach it (7003)", rec.ID)
	}
	if e := conflict(s.st.records[z.ID], rec); e != nil {
		return Record{}, fmt.Errorf("%d: %s", e.Code, e.Message)
	}
	rec.CreatedOn = s.now().UTC()
	rec.ModifiedOn = rec.CreatedOn
	s.st.records[z.ID] = append(s.st.records[z.ID], rec)
	return *cloneRecord(rec), nil
}

// AddTunnel adds a tunnel (ID, account, status and config source filled in
// when empty). A tunnel whose status is empty, healthy or degraded and
// that has no connectors gets one (SimConnector on 192.0.2.10), so it
// reads as Cloudflare shows a tunnel with a running cloudflared; "down"
// and "inactive" tunnels get none.
func (s *Server) AddTunnel(t Tunnel) Tunnel {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.ID == "" {
		t.ID = newUUID()
	}
	if t.AccountID == "" {
		t.AccountID = s.st.accountID
	}
	if t.ConfigSrc == "" {
		t.ConfigSrc = "cloudflare"
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now().UTC()
	}
	connectors, status := t.Connectors, t.Status
	switch {
	case connectors == nil && (status == "" || status == TunnelHealthy || status == TunnelDegraded):
		connectors = []TunnelConnector{SimConnector("192.0.2.10")}
	case status == TunnelDown && t.ConnsActiveAt.IsZero():
		// Down: it had connections once.
		t.ConnsActiveAt, t.ConnsInactiveAt = t.CreatedAt, t.CreatedAt
	}
	t.Connectors = nil
	tt := t
	tt.setConnectors(connectors, status, t.CreatedAt)
	s.st.tunnels = append(s.st.tunnels, &tt)
	return cloneTunnel(&tt)
}

func cloneTunnel(t *Tunnel) Tunnel {
	c := *t
	c.Connectors = cloneConnectors(t.Connectors)
	return c
}

// SetTunnelConfig stores a configuration document as if it had been PUT
// (validated, version bumped), without an audit entry.
func (s *Server) SetTunnelConfig(tunnelID string, doc []byte) error {
	if err := ValidateTunnelConfig(doc); err != nil {
		return err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, doc); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.tunnel(tunnelID) == nil {
		return fmt.Errorf("no tunnel %s", tunnelID)
	}
	cfg := s.st.configs[tunnelID]
	if cfg == nil {
		cfg = &TunnelConfig{}
		s.st.configs[tunnelID] = cfg
	}
	cfg.Version++
	cfg.Config = compact.Bytes()
	cfg.CreatedAt = s.now().UTC()
	return nil
}

// normalizeDoc turns a Go/YAML document into the JSON shapes the API
// handlers work on (json.Number numbers, []any lists, map[string]any objects).
func normalizeDoc(doc map[string]any) (map[string]any, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out map[string]any
	return out, dec.Decode(&out)
}

// AddAccessPolicy adds a reusable policy from its Cloudflare document.
func (s *Server) AddAccessPolicy(doc map[string]any, foreign bool) (AccessPolicy, error) {
	d, err := normalizeDoc(doc)
	if err != nil {
		return AccessPolicy{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &AccessPolicy{Foreign: foreign}
	if e := s.storePolicy(d, p); e != nil {
		return AccessPolicy{}, fmt.Errorf("%d: %s", e.Code, e.Message)
	}
	s.st.policies = append(s.st.policies, p)
	return *p, nil
}

// AddAccessApp adds an application from its Cloudflare document.
func (s *Server) AddAccessApp(doc map[string]any, foreign bool) (AccessApp, error) {
	d, err := normalizeDoc(doc)
	if err != nil {
		return AccessApp{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &AccessApp{Foreign: foreign}
	if e := s.storeApp(d, a); e != nil {
		return AccessApp{}, fmt.Errorf("%d: %s", e.Code, e.Message)
	}
	s.st.apps = append(s.st.apps, a)
	return *a, nil
}

// Zones returns copies of the zones.
func (s *Server) Zones() []Zone {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Zone, 0, len(s.st.zones))
	for _, z := range s.st.zones {
		out = append(out, *z)
	}
	return out
}

// Records returns copies of a zone's records in creation order.
func (s *Server) Records(zoneID string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Record, 0, len(s.st.records[zoneID]))
	for _, r := range s.st.records[zoneID] {
		out = append(out, *cloneRecord(r))
	}
	return out
}

// Tunnels returns copies of the tunnels.
func (s *Server) Tunnels() []Tunnel {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Tunnel, 0, len(s.st.tunnels))
	for _, t := range s.st.tunnels {
		out = append(out, cloneTunnel(t))
	}
	return out
}

// TunnelConfigOf returns the stored configuration of a tunnel.
func (s *Server) TunnelConfigOf(tunnelID string) (TunnelConfig, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg := s.st.configs[tunnelID]
	if cfg == nil {
		return TunnelConfig{}, false
	}
	c := *cfg
	c.Config = slices.Clone(cfg.Config)
	return c, true
}

// AccessApps returns copies of the applications.
func (s *Server) AccessApps() []AccessApp {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]AccessApp, 0, len(s.st.apps))
	for _, a := range s.st.apps {
		c := *a
		c.Doc, _ = jsonClone(a.Doc).(map[string]any)
		out = append(out, c)
	}
	return out
}

// AccessPolicies returns copies of the reusable policies.
func (s *Server) AccessPolicies() []AccessPolicy {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]AccessPolicy, 0, len(s.st.policies))
	for _, p := range s.st.policies {
		c := *p
		c.Doc, _ = jsonClone(p.Doc).(map[string]any)
		out = append(out, c)
	}
	return out
}

// Reset forgets every zone, record, tunnel, Access object, audit entry,
// rate-limit counter and fault. Tokens, account and settings stay.
func (s *Server) Reset() {
	s.SetFaults(Faults{})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st = newState(s.st.accountID)
	s.audit = nil
	s.rate = map[string]*rateState{}
}

// StateDump is the admin view of everything stored.
type StateDump struct {
	AccountID string           `json:"account_id"`
	Zones     []ZoneDump       `json:"zones"`
	Tunnels   []TunnelDump     `json:"tunnels"`
	Apps      []AccessApp      `json:"access_apps"`
	Policies  []AccessPolicy   `json:"access_policies"`
	Tokens    []map[string]any `json:"tokens"`
	RateLimit map[string]any   `json:"rate_limit"`
}

// ZoneDump is a zone with its records and which of them are foreign.
type ZoneDump struct {
	Zone
	Records    []Record `json:"records"`
	ForeignIDs []string `json:"foreign_ids"`
}

// TunnelDump is a tunnel with its configuration.
type TunnelDump struct {
	Tunnel
	Foreign bool          `json:"foreign"`
	Config  *TunnelConfig `json:"configuration,omitempty"`
}

// State returns a snapshot of everything stored.
func (s *Server) State() StateDump {
	apps, pols := s.AccessApps(), s.AccessPolicies()
	s.mu.Lock()
	defer s.mu.Unlock()
	d := StateDump{AccountID: s.st.accountID, Apps: apps, Policies: pols}
	for _, z := range s.st.zones {
		zd := ZoneDump{Zone: *z, Records: []Record{}, ForeignIDs: []string{}}
		for _, r := range s.st.records[z.ID] {
			zd.Records = append(zd.Records, *cloneRecord(r))
			if r.Foreign {
				zd.ForeignIDs = append(zd.ForeignIDs, r.ID)
			}
		}
		d.Zones = append(d.Zones, zd)
	}
	for _, t := range s.st.tunnels {
		td := TunnelDump{Tunnel: cloneTunnel(t), Foreign: t.Foreign}
		if cfg := s.st.configs[t.ID]; cfg != nil {
			c := *cfg
			td.Config = &c
		}
		d.Tunnels = append(d.Tunnels, td)
	}
	for _, info := range s.tokens {
		d.Tokens = append(d.Tokens, map[string]any{"name": info.Name, "id": info.ID, "read_only": info.ReadOnly})
	}
	slices.SortFunc(d.Tokens, func(a, b map[string]any) int { return strings.Compare(a["name"].(string), b["name"].(string)) })
	d.RateLimit = map[string]any{"requests": s.rl.Requests, "window": s.rl.Window.String(), "lockout": s.rl.Lockout.String()}
	return d
}
