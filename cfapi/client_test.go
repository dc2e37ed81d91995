package cfapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/cfapi/cfsim"
)

// newClient starts a simulator and a client of it.
func newClient(t *testing.T, opts ...cfsim.Option) (*cfsim.Server, *cfapi.Client) {
	t.Helper()
	s := cfsim.NewServer(t, opts...)
	c, err := cfapi.New(cfapi.Config{BaseURL: s.URL, Token: s.Token, AccountID: s.AccountID, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return s, c
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ptr[T any](v T) *T { return &v }

// apiCalls returns "METHOD path?query" of every audited request.
func apiCalls(s *cfsim.Server) []string {
	var out []string
	for _, e := range s.Audit() {
		line := e.Method + " " + e.Path
		if e.Query != "" {
			line += "?" + e.Query
		}
		out = append(out, line)
	}
	return out
}

// TestEnvironmentIsIgnored: stray CLOUDFLARE_* variables change nothing —
// the request reaches the configured server, with the configured token and
// no other credential or header.
func TestEnvironmentIsIgnored(t *testing.T) {
	other := cfsim.NewServer(t) // where CLOUDFLARE_BASE_URL points
	t.Setenv("CLOUDFLARE_BASE_URL", other.URL)
	t.Setenv("CLOUDFLARE_API_TOKEN", other.Token+"-wrong")
	t.Setenv("CLOUDFLARE_API_KEY", "global-key")
	t.Setenv("CLOUDFLARE_EMAIL", "someone@example.com")
	t.Setenv("CLOUDFLARE_API_USER_SERVICE_KEY", "v1.0-service-key")
	t.Setenv("CLOUDFLARE_CUSTOM_HEADERS", "X-Injected: yes\nX-Other: 1")
	s, c := newClient(t)
	if _, err := c.VerifyToken(ctxT(t)); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if n := len(other.Audit()); n != 0 {
		t.Fatalf("CLOUDFLARE_BASE_URL was followed: %d requests reached it", n)
	}
	log := s.Audit()
	if len(log) != 1 || log[0].Token != "main" || log[0].Status != http.StatusOK {
		t.Fatalf("audit %+v", log)
	}
	for _, h := range []string{"X-Auth-Key", "X-Auth-Email", "X-Auth-User-Service-Key", "X-Injected", "X-Other"} {
		if v, ok := log[0].Header[h]; ok {
			t.Errorf("header %s = %v reached the server", h, v)
		}
	}
}

func TestZones(t *testing.T) {
	t.Parallel()
	s, c := newClient(t)
	for i := range 120 {
		s.AddZone(cfsim.Zone{Name: fmt.Sprintf("zone%03d.test", i)})
	}
	s.AddZone(cfsim.Zone{Name: "example.com", Plan: "pro"})
	sub := s.AddZone(cfsim.Zone{Name: "dev.example.com"})
	zones, err := c.ListZones(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(zones) != 122 {
		t.Fatalf("%d zones, want 122", len(zones))
	}
	// 122 zones at 50 per page: exactly 3 requests, no extra empty page.
	want := []string{"GET /zones?page=1&per_page=50", "GET /zones?page=2&per_page=50", "GET /zones?page=3&per_page=50"}
	if diff := cmp.Diff(want, apiCalls(s)); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	last := zones[len(zones)-1]
	if last.ID != sub.ID || last.AccountID != s.AccountID || last.Status != "active" || last.Plan != "Free Website" {
		t.Errorf("zone %+v", last)
	}
	z, err := c.ZoneForHostname(ctxT(t), "api.dev.example.com")
	if err != nil || z.ID != sub.ID {
		t.Errorf("zone for api.dev.example.com = %+v, %v", z, err)
	}
	if _, err := c.ZoneForHostname(ctxT(t), "example.org"); !errors.Is(err, cfapi.ErrNotFound) {
		t.Errorf("zone for example.org: %v", err)
	}
}

func TestZoneFor(t *testing.T) {
	t.Parallel()
	zones := []cfapi.Zone{{ID: "1", Name: "example.com"}, {ID: "2", Name: "dev.example.com"}, {ID: "3", Name: "ample.com"}, {ID: "4", Name: "Example.ORG."}}
	tests := []struct {
		host, want string
	}{
		{"example.com", "1"},
		{"www.example.com", "1"},
		{"a.b.example.com", "1"},
		{"dev.example.com", "2"},
		{"x.dev.example.com", "2"},
		{"*.dev.example.com", "2"},
		{"WWW.EXAMPLE.COM.", "1"},
		{"ample.com", "3"},
		{"www.example.org", "4"},
		{"notexample.com", ""},
		{"com", ""},
		{"", ""},
	}
	for _, tc := range tests {
		z, ok := cfapi.ZoneFor(zones, tc.host)
		if got := map[bool]string{true: z.ID, false: ""}[ok]; got != tc.want {
			t.Errorf("ZoneFor(%q) = %q, want %q", tc.host, got, tc.want)
		}
	}
}

func TestVerifyToken(t *testing.T) {
	t.Parallel()
	s, c := newClient(t)
	ts, err := c.VerifyToken(ctxT(t))
	if err != nil || ts.Status != "active" || ts.ID == "" {
		t.Fatalf("verify = %+v, %v", ts, err)
	}
	// An account-owned token is refused by /user/tokens/verify; the client
	// falls back to /accounts/{id}/tokens/verify.
	s.AddAccountToken("acct-token", "account")
	ac, _ := cfapi.New(cfapi.Config{BaseURL: s.URL, Token: "acct-token", AccountID: s.AccountID})
	s.ResetAudit()
	if ts, err := ac.VerifyToken(ctxT(t)); err != nil || ts.Status != "active" {
		t.Fatalf("account token verify = %+v, %v", ts, err)
	}
	want := []string{"GET /user/tokens/verify", "GET /accounts/" + s.AccountID + "/tokens/verify"}
	if diff := cmp.Diff(want, apiCalls(s)); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	bad, _ := cfapi.New(cfapi.Config{BaseURL: s.URL, Token: "wrong", AccountID: s.AccountID})
	_, err = bad.VerifyToken(ctxT(t))
	var e *cfapi.Error
	if !errors.Is(err, cfapi.ErrUnauthorized) || !errors.As(err, &e) || e.StatusCode != 401 || !e.HasCode(1000) {
		t.Errorf("wrong token: %v", err)
	}
}

func TestRecords(t *testing.T) {
	t.Parallel()
	s, c := newClient(t)
	z := s.AddZone(cfsim.Zone{Name: "example.com", Plan: "pro"})
	ctx := ctxT(t)

	created := map[string]cfapi.Record{}
	inputs := []cfapi.Record{
		{Name: "app.example.com", Type: "CNAME", Content: "6ff42ae2-765d-4adf-8112-31c55c1551ef.cfargotunnel.com", Proxied: true, Comment: "managed-by:labelgate", Tags: []string{"owner:labelgate"}},
		{Name: "a.example.com", Type: "A", Content: "192.0.2.1", TTL: 300, Comment: "managed-by:labelgate"},
		{Name: "a6.example.com", Type: "AAAA", Content: "2001:db8::1"},
		{Name: "txt.example.com", Type: "TXT", Content: "v=spf1 -all"},
		{Name: "example.com", Type: "MX", Content: "mx.example.com", Priority: ptr(10)},
		{Name: "_xmpp._tcp.example.com", Type: "SRV", SRV: &cfapi.SRVData{Priority: 10, Weight: 5, Port: 5222, Target: "xmpp.example.com"}},
		{Name: "example.com", Type: "CAA", CAA: &cfapi.CAAData{Flags: 0, Tag: "issue", Value: "letsencrypt.org"}},
	}
	for _, in := range inputs {
		r, err := c.CreateRecord(ctx, z.ID, in)
		if err != nil {
			t.Fatalf("create %s %s: %v", in.Type, in.Name, err)
		}
		if r.ID == "" || r.ZoneID != z.ID || r.Name != in.Name || r.Type != in.Type || r.Comment != in.Comment || r.CreatedOn.IsZero() {
			t.Errorf("created %+v from %+v", r, in)
		}
		created[in.Type] = r
	}
	if r := created["CNAME"]; r.TTL != 1 || !r.Proxied || !r.Proxiable || !reflect.DeepEqual(r.Tags, []string{"owner:labelgate"}) {
		t.Errorf("CNAME %+v", r)
	}
	if r := created["A"]; r.TTL != 300 {
		t.Errorf("A ttl %d", r.TTL)
	}
	if r := created["MX"]; r.Priority == nil || *r.Priority != 10 {
		t.Errorf("MX priority %v", r.Priority)
	}
	if r := created["SRV"]; r.SRV == nil || *r.SRV != (cfapi.SRVData{Priority: 10, Weight: 5, Port: 5222, Target: "xmpp.example.com"}) {
		t.Errorf("SRV %+v", r.SRV)
	}
	if r := created["CAA"]; r.CAA == nil || *r.CAA != (cfapi.CAAData{Tag: "issue", Value: "letsencrypt.org"}) {
		t.Errorf("CAA %+v", r.CAA)
	}

	// The list (decoded without the SDK) returns exactly what the creates
	// returned: every field, the per-type data and the times included.
	listed, err := c.ListRecords(ctx, z.ID, cfapi.RecordFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]cfapi.Record{}
	for _, r := range listed {
		byID[r.ID] = r
	}
	for typ, r := range created {
		if !reflect.DeepEqual(byID[r.ID], r) {
			t.Errorf("%s listed as\n%+v\ncreated as\n%+v", typ, byID[r.ID], r)
		}
	}

	got, err := c.GetRecord(ctx, z.ID, created["A"].ID)
	if err != nil || got.Content != "192.0.2.1" {
		t.Fatalf("get: %+v %v", got, err)
	}
	// PUT replaces: the comment must be sent again to be kept.
	upd := got
	upd.Content = "192.0.2.2"
	if got, err = c.UpdateRecord(ctx, z.ID, upd); err != nil || got.Content != "192.0.2.2" || got.Comment != "managed-by:labelgate" || got.TTL != 300 {
		t.Fatalf("update: %+v %v", got, err)
	}
	// PATCH changes only what is set.
	if got, err = c.EditRecord(ctx, z.ID, cfapi.RecordPatch{ID: got.ID, TTL: ptr(600)}); err != nil || got.TTL != 600 || got.Content != "192.0.2.2" || got.Comment != "managed-by:labelgate" {
		t.Fatalf("edit: %+v %v", got, err)
	}

	// Filters, with the operators the SDK sends.
	filterTests := []struct {
		name string
		f    cfapi.RecordFilter
		want int
	}{
		{"all", cfapi.RecordFilter{}, 7},
		{"type", cfapi.RecordFilter{Type: "cname"}, 1},
		{"name exact", cfapi.RecordFilter{Name: cfapi.StringMatch{Exact: "example.com"}}, 2},
		{"name endswith", cfapi.RecordFilter{Name: cfapi.StringMatch{EndsWith: "a6.example.com"}}, 1},
		{"comment startswith", cfapi.RecordFilter{Comment: cfapi.StringMatch{StartsWith: "managed-by:"}}, 2},
		{"comment absent", cfapi.RecordFilter{CommentAbsent: true}, 5},
		{"content contains", cfapi.RecordFilter{Content: cfapi.StringMatch{Contains: "cfargotunnel"}}, 1},
		{"match any", cfapi.RecordFilter{Type: "TXT", Name: cfapi.StringMatch{Exact: "a.example.com"}, MatchAny: true}, 2},
	}
	for _, tc := range filterTests {
		rs, err := c.ListRecords(ctx, z.ID, tc.f)
		if err != nil || len(rs) != tc.want {
			t.Errorf("list %s: %d records, %v; want %d", tc.name, len(rs), err, tc.want)
		}
	}
	if err := c.DeleteRecord(ctx, z.ID, got.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetRecord(ctx, z.ID, got.ID); !errors.Is(err, cfapi.ErrNotFound) {
		t.Errorf("get deleted: %v", err)
	}
	if _, err := c.GetRecord(ctx, z.ID, "../../zones"); !errors.Is(err, cfapi.ErrValidation) {
		t.Errorf("path-changing id accepted: %v", err)
	}
}

func TestListRecordsPagesToTheEnd(t *testing.T) {
	t.Parallel()
	s, c := newClient(t, cfsim.WithPerPageMax(10))
	z := s.AddZone(cfsim.Zone{Name: "example.com"})
	for i := range 25 {
		if _, err := s.AddRecord(z.ID, cfsim.Record{Name: fmt.Sprintf("h%d", i), Type: "A", Content: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := c.ListRecords(ctxT(t), z.ID, cfapi.RecordFilter{})
	if err != nil || len(rs) != 25 {
		t.Fatalf("%d records, %v", len(rs), err)
	}
	seen := map[string]bool{}
	for _, r := range rs {
		seen[r.ID] = true
	}
	if len(seen) != 25 {
		t.Errorf("%d distinct records", len(seen))
	}
	// per_page=5000 is clamped to 10: pages 1–3, nothing more.
	calls := apiCalls(s)
	if len(calls) != 3 || !strings.Contains(calls[2], "page=3") || !strings.Contains(calls[0], "per_page=5000") {
		t.Errorf("requests %v", calls)
	}
	// The deadline covers every page: a cancelled context stops the list.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.ListRecords(ctx, z.ID, cfapi.RecordFilter{}); !errors.Is(err, context.Canceled) || cfapi.Retryable(err) {
		t.Errorf("cancelled list: %v", err)
	}
}

func TestBatchRecords(t *testing.T) {
	t.Parallel()
	s, c := newClient(t, cfsim.WithBatchCap(5))
	z := s.AddZone(cfsim.Zone{Name: "example.com"})
	ctx := ctxT(t)
	old, _ := s.AddRecord(z.ID, cfsim.Record{Name: "app", Type: "A", Content: "192.0.2.1"})
	p, _ := s.AddRecord(z.ID, cfsim.Record{Name: "p", Type: "A", Content: "192.0.2.2", Comment: "managed-by:labelgate"})
	u, _ := s.AddRecord(z.ID, cfsim.Record{Name: "u", Type: "A", Content: "192.0.2.3"})
	res, err := c.BatchRecords(ctx, z.ID, cfapi.Batch{
		Deletes: []string{old.ID},
		Patches: []cfapi.RecordPatch{{ID: p.ID, Content: ptr("192.0.2.20")}},
		Puts:    []cfapi.Record{{ID: u.ID, Name: "u.example.com", Type: "A", Content: "192.0.2.30", Comment: "managed-by:labelgate"}},
		Posts:   []cfapi.Record{{Name: "app.example.com", Type: "CNAME", Content: "t.cfargotunnel.com", Proxied: true, Comment: "managed-by:labelgate"}},
	})
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	if len(res.Deletes) != 1 || res.Patches[0].Content != "192.0.2.20" || res.Patches[0].Comment != "managed-by:labelgate" ||
		res.Puts[0].Comment != "managed-by:labelgate" || res.Posts[0].Type != "CNAME" || res.Posts[0].ID == "" {
		t.Errorf("batch result %+v", res)
	}
	// All or nothing.
	before := s.Records(z.ID)
	_, err = c.BatchRecords(ctx, z.ID, cfapi.Batch{
		Deletes: []string{p.ID},
		Posts:   []cfapi.Record{{Name: "ok.example.com", Type: "A", Content: "192.0.2.9"}, {Name: "bad.example.com", Type: "A", Content: "nope"}},
	})
	var e *cfapi.Error
	if !errors.Is(err, cfapi.ErrValidation) || !errors.As(err, &e) || !e.HasCode(9005) {
		t.Fatalf("bad batch: %v", err)
	}
	if diff := cmp.Diff(before, s.Records(z.ID)); diff != "" {
		t.Errorf("failed batch changed records:\n%s", diff)
	}
	// Over the cap: the caller must split.
	var posts []cfapi.Record
	for i := range 6 {
		posts = append(posts, cfapi.Record{Name: fmt.Sprintf("n%d.example.com", i), Type: "A", Content: "192.0.2.1"})
	}
	if _, err := c.BatchRecords(ctx, z.ID, cfapi.Batch{Posts: posts}); !errors.Is(err, cfapi.ErrValidation) {
		t.Errorf("over the cap: %v", err)
	}
	// An empty batch sends nothing.
	s.ResetAudit()
	if _, err := c.BatchRecords(ctx, z.ID, cfapi.Batch{}); err != nil || len(s.Audit()) != 0 {
		t.Errorf("empty batch: %v, %d requests", err, len(s.Audit()))
	}
}

// foreignConfig is someone else's tunnel configuration, with fields the
// SDK's typed structs do not model.
const foreignConfig = `{
  "ingress": [
    {"hostname": "legacy.example.com", "service": "http://legacy:8080",
     "originRequest": {"bastionMode": false, "proxyAddress": "127.0.0.1", "proxyPort": 1080, "proxyType": "socks",
                       "ipRules": [{"prefix": "10.0.0.0/8", "ports": [80, 443], "allow": true}],
                       "access": {"required": true, "teamName": "acme", "audTag": ["aud1"]},
                       "connectTimeout": 30, "matchSNItoHost": true, "http2Origin": true},
     "x-vendor-note": {"owner": "ops", "n": 12345678901234567890}},
    {"hostname": "*.wild.example.com", "path": "^/static/", "service": "https://static:443"},
    {"hostname": "ssh.example.com", "service": "ssh://host:22", "originRequest": {"bastionMode": true}},
    {"service": "http_status:418", "originRequest": {"noTLSVerify": true}}
  ],
  "originRequest": {"connectTimeout": 10, "keepAliveConnections": 7, "caPool": "/etc/ca.pem", "ipRules": [{"prefix": "0.0.0.0/0", "allow": false}]},
  "warp-routing": {"enabled": true, "connectTimeout": 5},
  "x-future-top-level": {"a": [1, 2, 3]}
}`

func jsonValue(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
	return v
}

func TestTunnelConfigRoundTrip(t *testing.T) {
	t.Parallel()
	s, c := newClient(t)
	ctx := ctxT(t)
	tun := s.AddTunnel(cfsim.Tunnel{Name: "default", Foreign: true})
	if err := s.SetTunnelConfig(tun.ID, []byte(foreignConfig)); err != nil {
		t.Fatal(err)
	}
	cfg, err := c.GetTunnelConfig(ctx, tun.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Version != 1 || cfg.TunnelID != tun.ID || cfg.Source != "cloudflare" || len(cfg.Ingress) != 4 || !cfg.Ingress[3].IsCatchAll() {
		t.Fatalf("config %+v", cfg)
	}
	if r := cfg.Ingress[0]; r.Hostname != "legacy.example.com" || r.Service != "http://legacy:8080" || r.OriginRequest["proxyPort"] != json.Number("1080") {
		t.Errorf("rule 0 %+v", r)
	}
	// Merge: insert an owned rule before the foreign ones, keep everything else.
	owned := cfapi.IngressRule{Hostname: "app.example.com", Service: "http://web:80", OriginRequest: map[string]any{"noTLSVerify": true, "connectTimeout": json.Number("10")}}
	cfg.Ingress = append([]cfapi.IngressRule{owned}, cfg.Ingress...)
	put, err := c.PutTunnelConfig(ctx, tun.ID, cfg)
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	if put.Version != 2 || len(put.Ingress) != 5 {
		t.Fatalf("put answer %+v", put)
	}
	stored, _ := s.TunnelConfigOf(tun.ID)
	var got, want map[string]json.RawMessage
	_ = json.Unmarshal(stored.Config, &got)
	_ = json.Unmarshal([]byte(foreignConfig), &want)
	for _, k := range []string{"originRequest", "warp-routing", "x-future-top-level"} {
		if diff := cmp.Diff(jsonValue(t, want[k]), jsonValue(t, got[k])); diff != "" {
			t.Errorf("top-level %s changed (-want +got):\n%s", k, diff)
		}
	}
	var gotRules, wantRules []json.RawMessage
	_ = json.Unmarshal(got["ingress"], &gotRules)
	_ = json.Unmarshal(want["ingress"], &wantRules)
	if len(gotRules) != 5 {
		t.Fatalf("%d rules stored", len(gotRules))
	}
	if diff := cmp.Diff(jsonValue(t, []byte(`{"hostname":"app.example.com","service":"http://web:80","originRequest":{"noTLSVerify":true,"connectTimeout":10}}`)), jsonValue(t, gotRules[0])); diff != "" {
		t.Errorf("owned rule (-want +got):\n%s", diff)
	}
	for i, w := range wantRules {
		if diff := cmp.Diff(jsonValue(t, w), jsonValue(t, gotRules[i+1])); diff != "" {
			t.Errorf("foreign rule %d changed (-want +got):\n%s", i, diff)
		}
	}
	// Editing a typed field of a rule keeps the keys we do not model.
	put.Ingress[1].Service = "http://legacy:9090"
	if _, err := c.PutTunnelConfig(ctx, tun.ID, put); err != nil {
		t.Fatal(err)
	}
	again, _ := c.GetTunnelConfig(ctx, tun.ID)
	var edited map[string]any
	_ = json.Unmarshal(again.Ingress[1].Raw, &edited)
	if edited["service"] != "http://legacy:9090" || edited["x-vendor-note"] == nil || edited["originRequest"].(map[string]any)["proxyAddress"] != "127.0.0.1" {
		t.Errorf("edited rule lost fields: %s", again.Ingress[1].Raw)
	}
	if again.Version != 3 {
		t.Errorf("version %d, want 3", again.Version)
	}
	// cloudflared's validation comes back as a typed error with the code.
	bad := again
	bad.Ingress = bad.Ingress[:len(bad.Ingress)-1] // drop the catch-all
	_, err = c.PutTunnelConfig(ctx, tun.ID, bad)
	var e *cfapi.Error
	if !errors.Is(err, cfapi.ErrValidation) || !errors.As(err, &e) || !e.HasCode(1056) || !strings.Contains(e.Messages[0], "last ingress rule") {
		t.Errorf("invalid config: %v", err)
	}
	// A tunnel without configuration reads as an empty one.
	fresh := s.AddTunnel(cfsim.Tunnel{Name: "fresh"})
	if cfg, err := c.GetTunnelConfig(ctx, fresh.ID); err != nil || cfg.Version != 0 || len(cfg.Ingress) != 0 {
		t.Errorf("fresh tunnel config %+v %v", cfg, err)
	}
}

// TestIngressRuleRawIsVerbatim: an untouched rule is written back byte for byte.
func TestIngressRuleRawIsVerbatim(t *testing.T) {
	t.Parallel()
	var cfg cfapi.TunnelConfig
	if err := json.Unmarshal([]byte(foreignConfig), &cfg); err != nil {
		t.Fatal(err)
	}
	for i, r := range cfg.Ingress {
		b, err := r.MarshalJSON()
		if err != nil || string(b) != string(r.Raw) {
			t.Errorf("rule %d: %s, want %s (%v)", i, b, r.Raw, err)
		}
	}
}

func TestTunnels(t *testing.T) {
	t.Parallel()
	s, c := newClient(t, cfsim.WithPerPageMax(3))
	for i := range 7 {
		s.AddTunnel(cfsim.Tunnel{Name: fmt.Sprintf("t%d", i)})
	}
	ts, err := c.ListTunnels(ctxT(t))
	if err != nil || len(ts) != 7 {
		t.Fatalf("%d tunnels, %v", len(ts), err)
	}
	if len(apiCalls(s)) != 3 {
		t.Errorf("requests %v", apiCalls(s))
	}
	got, err := c.GetTunnel(ctxT(t), ts[4].ID)
	if err != nil || got.Name != "t4" || got.AccountID != s.AccountID || got.ConfigSrc != "cloudflare" || got.Status != "healthy" {
		t.Errorf("tunnel %+v %v", got, err)
	}
	if _, err := c.GetTunnel(ctxT(t), "6ff42ae2-765d-4adf-8112-31c55c1551ef"); !errors.Is(err, cfapi.ErrNotFound) {
		t.Errorf("unknown tunnel: %v", err)
	}
	noAcct, _ := cfapi.New(cfapi.Config{BaseURL: s.URL, Token: s.Token})
	if _, err := noAcct.ListTunnels(ctxT(t)); !errors.Is(err, cfapi.ErrValidation) {
		t.Errorf("no account id: %v", err)
	}
}

// TestTunnelConnectors: the tunnel's status and its connectors, decoded by
// the real SDK from cfsim's answers in Cloudflare's shapes.
func TestTunnelConnectors(t *testing.T) {
	t.Parallel()
	s, c := newClient(t)
	ctx := ctxT(t)
	tun := s.AddTunnel(cfsim.Tunnel{Name: "default"})
	opened := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	conn := cfsim.SimConnector("198.51.100.7", "ams01", "fra02")
	conn.Version, conn.Arch = "2025.2.1", "linux_arm64"
	conn.Conns[0].OpenedAt = opened
	conn.Conns[1].IsPendingReconnect = true
	if err := s.SetTunnelConnectors(tun.ID, "", []cfsim.TunnelConnector{conn}); err != nil {
		t.Fatal(err)
	}

	got, err := c.GetTunnel(ctx, tun.ID)
	if err != nil || got.Status != cfapi.TunnelHealthy || got.ConnsActiveAt.IsZero() || !got.ConnsInactiveAt.IsZero() {
		t.Fatalf("tunnel %+v %v", got, err)
	}
	cs, err := c.ListTunnelConnections(ctx, tun.ID)
	if err != nil || len(cs) != 1 {
		t.Fatalf("connectors %+v %v", cs, err)
	}
	cn := cs[0]
	if cn.ID == "" || cn.Version != "2025.2.1" || cn.Arch != "linux_arm64" || cn.RunAt.IsZero() || len(cn.Connections) != 2 {
		t.Fatalf("connector %+v", cn)
	}
	first := cn.Connections[0]
	if first.ID == "" || first.ConnectorID != cn.ID || first.Version != "2025.2.1" || first.Colo != "ams01" ||
		first.OriginIP != "198.51.100.7" || !first.OpenedAt.Equal(opened) || first.PendingReconnect {
		t.Errorf("first connection %+v", first)
	}
	if !cn.Connections[1].PendingReconnect || cn.Connections[1].Colo != "fra02" {
		t.Errorf("second connection %+v", cn.Connections[1])
	}
	if n := cfapi.ActiveConnections(cs); n != 1 {
		t.Errorf("active connections %d, want 1 (one is pending reconnect)", n)
	}

	// The connector stops: down, no connections, the time it went.
	if err := s.SetTunnelConnectors(tun.ID, "", nil); err != nil {
		t.Fatal(err)
	}
	got, err = c.GetTunnel(ctx, tun.ID)
	if err != nil || got.Status != cfapi.TunnelDown || got.ConnsInactiveAt.IsZero() {
		t.Errorf("tunnel after its connector stopped: %+v %v", got, err)
	}
	if cs, err := c.ListTunnelConnections(ctx, tun.ID); err != nil || len(cs) != 0 || cs == nil {
		t.Errorf("connectors after they stopped: %#v %v", cs, err)
	}
	// Degraded is Cloudflare's to say; it comes through as it is.
	if err := s.SetTunnelConnectors(tun.ID, cfapi.TunnelDegraded, []cfsim.TunnelConnector{cfsim.SimConnector("192.0.2.1")}); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.GetTunnel(ctx, tun.ID); got.Status != cfapi.TunnelDegraded {
		t.Errorf("status %q, want degraded", got.Status)
	}
	idle := s.AddTunnel(cfsim.Tunnel{Name: "idle", Status: cfapi.TunnelInactive})
	if got, err := c.GetTunnel(ctx, idle.ID); err != nil || got.Status != cfapi.TunnelInactive || !got.ConnsActiveAt.IsZero() {
		t.Errorf("inactive tunnel %+v %v", got, err)
	}

	if _, err := c.ListTunnelConnections(ctx, "6ff42ae2-765d-4adf-8112-31c55c1551ef"); !errors.Is(err, cfapi.ErrNotFound) {
		t.Errorf("connections of an unknown tunnel: %v", err)
	}
	if _, err := c.ListTunnelConnections(ctx, "../zones"); !errors.Is(err, cfapi.ErrValidation) {
		t.Errorf("a tunnel id that changes the path: %v", err)
	}
	noAcct, _ := cfapi.New(cfapi.Config{BaseURL: s.URL, Token: s.Token})
	if _, err := noAcct.ListTunnelConnections(ctx, tun.ID); !errors.Is(err, cfapi.ErrValidation) {
		t.Errorf("no account id: %v", err)
	}
}

func TestAccess(t *testing.T) {
	t.Parallel()
	s, c := newClient(t, cfsim.WithPerPageMax(2))
	ctx := ctxT(t)
	all := []cfapi.Rule{
		{Kind: cfapi.RuleEmail, Value: "a@example.com"},
		{Kind: cfapi.RuleEmailDomain, Value: "example.com"},
		{Kind: cfapi.RuleIP, Value: "10.0.0.0/8"},
		{Kind: cfapi.RuleCountry, Value: "US"},
		{Kind: cfapi.RuleEveryone},
		{Kind: cfapi.RuleServiceToken, Value: "tok-1"},
		{Kind: cfapi.RuleAnyValidServiceToken},
		{Kind: cfapi.RuleGroup, Value: "grp-1"},
		{Kind: cfapi.RuleCertificate},
		{Kind: cfapi.RuleLoginMethod, Value: "idp-1"},
	}
	pol, err := c.CreateAccessPolicy(ctx, cfapi.AccessPolicy{Name: "labelgate:team", Decision: "allow", Include: all,
		Require: []cfapi.Rule{{Kind: cfapi.RuleCountry, Value: "DE"}}, Exclude: []cfapi.Rule{{Kind: cfapi.RuleEmail, Value: "x@example.com"}}, SessionDuration: "12h"})
	if err != nil {
		t.Fatalf("create policy: %v", err)
	}
	ignoreRaw := cmpopts.IgnoreFields(cfapi.Rule{}, "Raw")
	if diff := cmp.Diff(all, pol.Include, ignoreRaw); diff != "" {
		t.Errorf("include round trip (-want +got):\n%s", diff)
	}
	if pol.ID == "" || !pol.Reusable || pol.SessionDuration != "12h" || len(pol.Require) != 1 || len(pol.Exclude) != 1 {
		t.Errorf("policy %+v", pol)
	}
	// The wire form of each selector is Cloudflare's.
	stored := s.AccessPolicies()[0].Doc["include"].([]any)
	wire, _ := json.Marshal(stored)
	for _, frag := range []string{`{"email":{"email":"a@example.com"}}`, `{"email_domain":{"domain":"example.com"}}`, `{"ip":{"ip":"10.0.0.0/8"}}`,
		`{"geo":{"country_code":"US"}}`, `{"everyone":{}}`, `{"service_token":{"token_id":"tok-1"}}`, `{"any_valid_service_token":{}}`,
		`{"group":{"id":"grp-1"}}`, `{"certificate":{}}`, `{"login_method":{"id":"idp-1"}}`} {
		if !strings.Contains(string(wire), frag) {
			t.Errorf("stored include lacks %s: %s", frag, wire)
		}
	}
	pol.Include = []cfapi.Rule{{Kind: cfapi.RuleEveryone}}
	pol.Decision = "bypass"
	if pol, err = c.UpdateAccessPolicy(ctx, pol); err != nil || pol.Decision != "bypass" || len(pol.Include) != 1 {
		t.Fatalf("update policy: %+v %v", pol, err)
	}
	if _, err := c.CreateAccessPolicy(ctx, cfapi.AccessPolicy{Name: "x", Decision: "allow", Include: []cfapi.Rule{{Kind: cfapi.RuleEmail}}}); !errors.Is(err, cfapi.ErrValidation) {
		t.Errorf("rule without value: %v", err)
	}

	app, err := c.CreateAccessApp(ctx, cfapi.AccessApp{Name: "labelgate:app.example.com", Domain: "app.example.com", SessionDuration: "24h",
		Policies: []cfapi.AppPolicy{{ID: pol.ID, Precedence: 1}}, Tags: []string{}})
	if err != nil {
		t.Fatalf("create app: %v", err)
	}
	if app.ID == "" || app.AUD == "" || app.Type != "self_hosted" || len(app.Policies) != 1 || app.Policies[0] != (cfapi.AppPolicy{ID: pol.ID, Precedence: 1}) {
		t.Errorf("app %+v", app)
	}
	app.SessionDuration = "1h"
	if app, err = c.UpdateAccessApp(ctx, app); err != nil || app.SessionDuration != "1h" {
		t.Fatalf("update app: %+v %v", app, err)
	}
	if got, err := c.GetAccessApp(ctx, app.ID); err != nil || got.Domain != "app.example.com" {
		t.Errorf("get app: %+v %v", got, err)
	}
	if got, err := c.GetAccessPolicy(ctx, pol.ID); err != nil || got.AppCount != 1 {
		t.Errorf("get policy: %+v %v", got, err)
	}
	// A policy in use cannot be deleted.
	if err := c.DeleteAccessPolicy(ctx, pol.ID); !errors.Is(err, cfapi.ErrConflict) {
		t.Errorf("delete policy in use: %v", err)
	}
	// Paging (per_page capped at 2 by the simulator).
	for i := range 4 {
		if _, err := s.AddAccessPolicy(map[string]any{"name": fmt.Sprintf("foreign-%d", i), "decision": "allow",
			"include": []any{map[string]any{"everyone": map[string]any{}}, map[string]any{"email_list": map[string]any{"id": "l1"}}}}, true); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddAccessApp(map[string]any{"name": "f", "domain": fmt.Sprintf("f%d.example.com", i), "type": "self_hosted"}, true); err != nil {
			t.Fatal(err)
		}
	}
	pols, err := c.ListAccessPolicies(ctx)
	if err != nil || len(pols) != 5 {
		t.Fatalf("%d policies, %v", len(pols), err)
	}
	// A selector we do not model is read with Kind "" and its raw JSON.
	if r := pols[1].Include[1]; r.Kind != "" || !strings.Contains(string(r.Raw), "email_list") {
		t.Errorf("unmodelled rule %+v", r)
	}
	apps, err := c.ListAccessApps(ctx)
	if err != nil || len(apps) != 5 {
		t.Fatalf("%d apps, %v", len(apps), err)
	}
	if err := c.DeleteAccessApp(ctx, app.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteAccessPolicy(ctx, pol.ID); err != nil {
		t.Fatalf("delete unused policy: %v", err)
	}
	if _, err := c.GetAccessApp(ctx, app.ID); !errors.Is(err, cfapi.ErrNotFound) {
		t.Errorf("deleted app: %v", err)
	}
	if len(s.ForeignWrites()) != 0 {
		t.Errorf("foreign objects written: %+v", s.ForeignWrites())
	}
}

// fakeClock drives the simulator's rate limit without sleeping.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }

func TestTypedErrors(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s, c := newClient(t, cfsim.WithClock(clk.Now))
	s.AddToken("ro", "readonly", true)
	z := s.AddZone(cfsim.Zone{Name: "example.com"})
	tun := s.AddTunnel(cfsim.Tunnel{Name: "t"})
	ctx := ctxT(t)
	ro, _ := cfapi.New(cfapi.Config{BaseURL: s.URL, Token: "ro", AccountID: s.AccountID})
	wrong, _ := cfapi.New(cfapi.Config{BaseURL: s.URL, Token: "wrong", AccountID: s.AccountID})
	short, _ := cfapi.New(cfapi.Config{BaseURL: s.URL, Token: s.Token, AccountID: s.AccountID, Timeout: 50 * time.Millisecond})
	pol, _ := s.AddAccessPolicy(map[string]any{"name": "p", "decision": "allow", "include": []any{map[string]any{"everyone": map[string]any{}}}}, false)
	if _, err := s.AddAccessApp(map[string]any{"domain": "a.example.com", "type": "self_hosted", "policies": []any{pol.ID}}, false); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		faults     cfsim.Faults
		call       func() error
		kind       error
		status     int
		code       int
		retryable  bool
		retryAfter time.Duration
	}{
		{name: "401 wrong token on verify", call: func() error { _, err := wrong.VerifyToken(ctx); return err },
			kind: cfapi.ErrUnauthorized, status: 401, code: 1000},
		{name: "403 wrong token", call: func() error { _, err := wrong.ListZones(ctx); return err },
			kind: cfapi.ErrUnauthorized, status: 403, code: 9109},
		{name: "403 read-only token", call: func() error {
			_, err := ro.CreateRecord(ctx, z.ID, cfapi.Record{Name: "a.example.com", Type: "A", Content: "192.0.2.1"})
			return err
		}, kind: cfapi.ErrForbidden, status: 403, code: 10000},
		{name: "404 record", call: func() error { _, err := c.GetRecord(ctx, z.ID, "0123456789abcdef0123456789abcdef"); return err },
			kind: cfapi.ErrNotFound, status: 404, code: 81044},
		{name: "404 zone", call: func() error {
			_, err := c.ListRecords(ctx, "0123456789abcdef0123456789abcdef", cfapi.RecordFilter{})
			return err
		},
			kind: cfapi.ErrNotFound, status: 404, code: 7003},
		{name: "409 policy in use", call: func() error { return c.DeleteAccessPolicy(ctx, pol.ID) },
			kind: cfapi.ErrConflict, status: 409, code: 12130},
		{name: "400 CNAME conflict", call: func() error {
			if _, err := c.CreateRecord(ctx, z.ID, cfapi.Record{Name: "c.example.com", Type: "A", Content: "192.0.2.1"}); err != nil {
				return err
			}
			_, err := c.CreateRecord(ctx, z.ID, cfapi.Record{Name: "c.example.com", Type: "CNAME", Content: "t.cfargotunnel.com"})
			return err
		}, kind: cfapi.ErrConflict, status: 400, code: 81053},
		{name: "400 validation", call: func() error {
			_, err := c.CreateRecord(ctx, z.ID, cfapi.Record{Name: "v.example.com", Type: "A", Content: "nope"})
			return err
		}, kind: cfapi.ErrValidation, status: 400, code: 9005},
		{name: "400 tunnel validation", call: func() error {
			_, err := c.PutTunnelConfig(ctx, tun.ID, cfapi.TunnelConfig{Ingress: []cfapi.IngressRule{{Hostname: "a.example.com", Service: "http://a"}}})
			return err
		}, kind: cfapi.ErrValidation, status: 400, code: 1056},
		{name: "429 storm with Retry-After", faults: cfsim.Faults{Storm429Next: 1, StormRetryAfter: 42 * time.Second},
			call: func() error { _, err := c.ListZones(ctx); return err },
			kind: cfapi.ErrRateLimited, status: 429, code: 10100, retryable: true, retryAfter: 42 * time.Second},
		{name: "500", faults: cfsim.Faults{FailNext: 1}, call: func() error { _, err := c.ListZones(ctx); return err },
			kind: cfapi.ErrTransient, status: 500, code: 10002, retryable: true},
		{name: "503", faults: cfsim.Faults{FailNext: 1, ErrorStatus: 503}, call: func() error { _, err := c.VerifyToken(ctx); return err },
			kind: cfapi.ErrTransient, status: 503, code: 10002, retryable: true},
		{name: "dropped connection", faults: cfsim.Faults{DropRate: 1}, call: func() error { _, err := c.ListZones(ctx); return err },
			kind: cfapi.ErrTransient, retryable: true},
		{name: "timeout", faults: cfsim.Faults{Latency: 300 * time.Millisecond}, call: func() error { _, err := short.ListZones(ctx); return err },
			kind: cfapi.ErrTransient, retryable: true},
	}
	for _, tc := range tests {
		s.SetFaults(tc.faults)
		err := tc.call()
		s.SetFaults(cfsim.Faults{})
		var e *cfapi.Error
		if !errors.Is(err, tc.kind) || !errors.As(err, &e) {
			t.Errorf("%s: error %v, want kind %v", tc.name, err, tc.kind)
			continue
		}
		if e.StatusCode != tc.status || (tc.code != 0 && !e.HasCode(tc.code)) || cfapi.Retryable(err) != tc.retryable || e.RetryAfter != tc.retryAfter {
			t.Errorf("%s: %+v (retryable %v)", tc.name, e, cfapi.Retryable(err))
		}
		if tc.name == "timeout" && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("timeout does not unwrap to DeadlineExceeded: %v", err)
		}
	}
}

// TestRateLimitLockout: the simulator's real rate limit, seen through the
// client: ErrRateLimited with the lockout as RetryAfter.
func TestRateLimitLockout(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	_, c := newClient(t, cfsim.WithClock(clk.Now), cfsim.WithRateLimit(2, 300*time.Second, 0))
	ctx := ctxT(t)
	for range 2 {
		if _, err := c.VerifyToken(ctx); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.ListZones(ctx)
	if !errors.Is(err, cfapi.ErrRateLimited) || cfapi.RetryAfter(err) != 300*time.Second || !cfapi.Retryable(err) {
		t.Fatalf("over the limit: %v (retry after %v)", err, cfapi.RetryAfter(err))
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []cfapi.Config{{}, {Token: "t", BaseURL: "ftp://x"}, {Token: "t", BaseURL: "not a url"}} {
		if _, err := cfapi.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	if _, err := cfapi.New(cfapi.Config{Token: "t"}); err != nil {
		t.Errorf("default base URL: %v", err)
	}
}
