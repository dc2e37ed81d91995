package cfsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for rate-limit and storm tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// answer is a decoded envelope.
type answer struct {
	Status     int
	Header     http.Header
	Success    bool            `json:"success"`
	Errors     []envelopeErr   `json:"errors"`
	Messages   []envelopeErr   `json:"messages"`
	Result     json.RawMessage `json:"result"`
	ResultInfo *ResultInfo     `json:"result_info"`
}

func (a answer) code() int {
	if len(a.Errors) == 0 {
		return 0
	}
	return a.Errors[0].Code
}

// chain is the first error's first error_chain code, 0 without one.
func (a answer) chain() int {
	if len(a.Errors) == 0 || len(a.Errors[0].Chain) == 0 {
		return 0
	}
	return a.Errors[0].Chain[0].Code
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.Result, v); err != nil {
		t.Fatalf("decoding result %s: %v", a.Result, err)
	}
}

// call sends one request with the server's token (token "" = none).
func call(t *testing.T, s *Server, method, path string, body any) answer {
	t.Helper()
	return callAs(t, s, s.Token, method, path, body)
}

func callAs(t *testing.T, s *Server, token, method, path string, body any) answer {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	a := answer{Status: res.StatusCode, Header: res.Header}
	data, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(data, &a); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %s", method, path, data)
	}
	return a
}

func recPath(z Zone) string { return "/zones/" + z.ID + "/dns_records" }

func TestAuthentication(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	s.AddToken("ro", "readonly", true)
	z := s.AddZone(Zone{Name: "example.com"})
	rec := map[string]any{"name": "a", "type": "A", "content": "192.0.2.1"}
	send := func(header, method, path string, body any) answer {
		t.Helper()
		data, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, s.URL+path, bytes.NewReader(data))
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		a := answer{Status: res.StatusCode}
		_ = json.NewDecoder(res.Body).Decode(&a)
		return a
	}
	tests := []struct {
		name         string
		header       string
		method, path string
		status, code int
	}{
		{"no credentials", "", "GET", "/zones", 400, 9106},
		{"not a bearer header", "Basic abc", "GET", "/zones", 400, 6003},
		{"unknown token on verify", "Bearer nope", "GET", "/user/tokens/verify", 401, 1000},
		{"unknown token elsewhere", "Bearer nope", "GET", "/zones", 403, 9109},
		{"read-only token writing", "Bearer ro", "POST", recPath(z), 403, 10000},
		{"read-only token reading", "Bearer ro", "GET", recPath(z), 200, 0},
		{"valid token", "Bearer " + s.Token, "GET", "/user/tokens/verify", 200, 0},
		{"api prefix accepted", "Bearer " + s.Token, "GET", "/client/v4/zones", 200, 0},
		{"unknown route", "Bearer " + s.Token, "GET", "/zones/" + z.ID + "/settings", 400, 7000},
		{"unknown zone", "Bearer " + s.Token, "GET", "/zones/nope/dns_records", 404, 7003},
		{"wrong account", "Bearer " + s.Token, "GET", "/accounts/nope/cfd_tunnel", 404, 7003},
	}
	for _, tc := range tests {
		a := send(tc.header, tc.method, tc.path, rec)
		if a.Status != tc.status || a.code() != tc.code {
			t.Errorf("%s: got %d/%d, want %d/%d (%+v)", tc.name, a.Status, a.code(), tc.status, tc.code, a.Errors)
		}
	}
	// The malformed header carries Cloudflare's error_chain.
	a := send("Basic abc", "GET", "/zones", nil)
	if len(a.Errors) != 1 || len(a.Errors[0].Chain) != 1 || a.Errors[0].Chain[0].Code != 6111 {
		t.Errorf("6003 error_chain = %+v, want 6111", a.Errors)
	}
	// A read-only token's write names the method, as Cloudflare's 10000 does.
	a = send("Bearer ro", "POST", recPath(z), rec)
	if len(a.Errors) != 1 || a.Errors[0].Message != "POST method not allowed for the api_token authentication scheme" {
		t.Errorf("read-only write = %+v", a.Errors)
	}
	// 7003 names the path with Cloudflare's /client/v4 prefix.
	a = send("Bearer "+s.Token, "GET", "/zones/nope/dns_records", nil)
	if len(a.Errors) != 1 || a.Errors[0].Message != "Could not route to /client/v4/zones/nope/dns_records, perhaps your object identifier is invalid?" {
		t.Errorf("7003 = %+v", a.Errors)
	}
	// Verify answers like Cloudflare.
	a = call(t, s, "GET", "/user/tokens/verify", nil)
	if len(a.Messages) != 1 || a.Messages[0].Code != 10000 || !strings.Contains(string(a.Result), `"status":"active"`) {
		t.Errorf("verify = %s %+v", a.Result, a.Messages)
	}
	if a := call(t, s, "GET", "/accounts/"+s.AccountID+"/tokens/verify", nil); a.Status != 200 {
		t.Errorf("account verify status %d", a.Status)
	}
}

// TestRecordRules: every DNS rejection, as Cloudflare answers it. The source
// of each rule is named next to the case (codes.go has the code sources).
func TestRecordRules(t *testing.T) {
	t.Parallel()
	type rec = map[string]any
	tests := []struct {
		name   string
		plan   string
		seed   []rec // existing records
		body   rec
		status int
		code   int
		// chain is the specific code inside a 1004 "DNS Validation Error".
		chain int
		check func(t *testing.T, got Record)
	}{
		// A new CNAME where any record is: 81053; a new record where a
		// CNAME is: 81054 (codes.go names the evidence).
		{name: "CNAME beside A", seed: []rec{{"name": "www", "type": "A", "content": "192.0.2.1"}},
			body: rec{"name": "www", "type": "CNAME", "content": "t.cfargotunnel.com"}, status: 400, code: 81053},
		{name: "A beside CNAME", seed: []rec{{"name": "www", "type": "CNAME", "content": "t.cfargotunnel.com"}},
			body: rec{"name": "www", "type": "A", "content": "192.0.2.1"}, status: 400, code: 81054},
		{name: "CNAME beside TXT", seed: []rec{{"name": "www", "type": "TXT", "content": "hello"}},
			body: rec{"name": "www", "type": "CNAME", "content": "t.cfargotunnel.com"}, status: 400, code: 81053},
		{name: "TXT beside CNAME", seed: []rec{{"name": "www", "type": "CNAME", "content": "t.cfargotunnel.com"}},
			body: rec{"name": "www", "type": "TXT", "content": "x"}, status: 400, code: 81054},
		// Identical record: 81058 "An identical record already exists." (jeessy2/ddns-go#1378).
		{name: "identical A", seed: []rec{{"name": "www", "type": "A", "content": "192.0.2.1"}},
			body: rec{"name": "www.example.com", "type": "A", "content": "192.0.2.1"}, status: 400, code: 81058},
		{name: "identical TXT", seed: []rec{{"name": "www", "type": "TXT", "content": "v=1"}},
			body: rec{"name": "www", "type": "TXT", "content": "v=1"}, status: 400, code: 81058},
		{name: "second A with other content is fine", seed: []rec{{"name": "www", "type": "A", "content": "192.0.2.1"}},
			body: rec{"name": "www", "type": "A", "content": "192.0.2.2"}, status: 200},
		// Content per type (9005/9006; 9007 wrapped in 1004 on create).
		{name: "A needs IPv4", body: rec{"name": "a", "type": "A", "content": "2001:db8::1"}, status: 400, code: 9005},
		{name: "A garbage", body: rec{"name": "a", "type": "A", "content": "300.1.1.1"}, status: 400, code: 9005},
		{name: "AAAA needs IPv6", body: rec{"name": "a", "type": "AAAA", "content": "192.0.2.1"}, status: 400, code: 9006},
		{name: "CNAME needs hostname", body: rec{"name": "a", "type": "CNAME", "content": "not a host"}, status: 400, code: 1004, chain: 9007},
		{name: "MX needs hostname", body: rec{"name": "a", "type": "MX", "content": "-bad-", "priority": 10}, status: 400, code: 9100},
		{name: "MX needs priority", body: rec{"name": "a", "type": "MX", "content": "mx.example.com"}, status: 400, code: 9100},
		{name: "TXT needs content", body: rec{"name": "a", "type": "TXT", "content": ""}, status: 400, code: 9100},
		// SRV: name _service._proto.name and data priority/weight/port/target (RFC 2782).
		{name: "SRV name", body: rec{"name": "xmpp", "type": "SRV", "data": rec{"priority": 10, "weight": 5, "port": 5222, "target": "x.example.com"}}, status: 400, code: 9100},
		{name: "SRV port range", body: rec{"name": "_xmpp._tcp", "type": "SRV", "data": rec{"priority": 10, "weight": 5, "port": 70000, "target": "x.example.com"}}, status: 400, code: 9100},
		{name: "SRV target", body: rec{"name": "_xmpp._tcp", "type": "SRV", "data": rec{"priority": 10, "weight": 5, "port": 5222, "target": "bad target"}}, status: 400, code: 9100},
		{name: "SRV ok", body: rec{"name": "_xmpp._tcp", "type": "SRV", "data": rec{"priority": 10, "weight": 5, "port": 5222, "target": "x.example.com"}}, status: 200,
			check: func(t *testing.T, got Record) {
				if got.Content != "5 5222 x.example.com" || got.Priority == nil || *got.Priority != 10 {
					t.Errorf("SRV content %q priority %v", got.Content, got.Priority)
				}
			}},
		// CAA: flags 0–255, tag issue|issuewild|iodef, value (RFC 8659).
		{name: "CAA tag", body: rec{"name": "@", "type": "CAA", "data": rec{"flags": 0, "tag": "nope", "value": "letsencrypt.org"}}, status: 400, code: 9100},
		{name: "CAA flags", body: rec{"name": "@", "type": "CAA", "data": rec{"flags": 256, "tag": "issue", "value": "letsencrypt.org"}}, status: 400, code: 9100},
		{name: "CAA value", body: rec{"name": "@", "type": "CAA", "data": rec{"flags": 0, "tag": "issue", "value": ""}}, status: 400, code: 9100},
		{name: "CAA ok", body: rec{"name": "@", "type": "CAA", "data": rec{"flags": 0, "tag": "issue", "value": "letsencrypt.org"}}, status: 200,
			check: func(t *testing.T, got Record) {
				if got.Name != "example.com" || got.Content != `0 issue "letsencrypt.org"` {
					t.Errorf("CAA name %q content %q", got.Name, got.Content)
				}
			}},
		// TTL: 1 = automatic, else 60–86400 (API schema of dns.TTL); 9021 wrapped in 1004 on create.
		{name: "TTL below 60", body: rec{"name": "a", "type": "A", "content": "192.0.2.1", "ttl": 30}, status: 400, code: 1004, chain: 9021},
		{name: "TTL above 86400", body: rec{"name": "a", "type": "A", "content": "192.0.2.1", "ttl": 86401}, status: 400, code: 1004, chain: 9021},
		{name: "TTL 30 on enterprise", plan: "enterprise", body: rec{"name": "a", "type": "A", "content": "192.0.2.1", "ttl": 30}, status: 200},
		{name: "TTL 60", body: rec{"name": "a", "type": "A", "content": "192.0.2.1", "ttl": 60}, status: 200},
		// Proxied forces automatic TTL; only A/AAAA/CNAME can be proxied (1004 → 9004).
		{name: "proxied forces auto TTL", body: rec{"name": "a", "type": "A", "content": "192.0.2.1", "ttl": 300, "proxied": true}, status: 200,
			check: func(t *testing.T, got Record) {
				if got.TTL != 1 || !got.Proxied || !got.Proxiable {
					t.Errorf("ttl %d proxied %v proxiable %v", got.TTL, got.Proxied, got.Proxiable)
				}
			}},
		{name: "proxied TXT", body: rec{"name": "a", "type": "TXT", "content": "x", "proxied": true}, status: 400, code: 1004, chain: 9004},
		{name: "proxied MX", body: rec{"name": "a", "type": "MX", "content": "mx.example.com", "priority": 1, "proxied": true}, status: 400, code: 1004, chain: 9004},
		// Comments: Free 100, paid 500 characters (1004 → 9313 on create), no line breaks (9102, no evidence).
		{name: "comment 100 on free", body: rec{"name": "a", "type": "A", "content": "192.0.2.1", "comment": strings.Repeat("x", 100)}, status: 200},
		{name: "comment 101 on free", body: rec{"name": "a", "type": "A", "content": "192.0.2.1", "comment": strings.Repeat("x", 101)}, status: 400, code: 1004, chain: 9313},
		{name: "comment 500 on pro", plan: "pro", body: rec{"name": "a", "type": "A", "content": "192.0.2.1", "comment": strings.Repeat("x", 500)}, status: 200},
		{name: "comment 501 on pro", plan: "pro", body: rec{"name": "a", "type": "A", "content": "192.0.2.1", "comment": strings.Repeat("x", 501)}, status: 400, code: 1004, chain: 9313},
		{name: "comment newline", body: rec{"name": "a", "type": "A", "content": "192.0.2.1", "comment": "a\nb"}, status: 400, code: 9102},
		// Tags: paid plans only (1004 → 9300 on Free), name:value (peers.md §5).
		{name: "tags on free", body: rec{"name": "a", "type": "A", "content": "192.0.2.1", "tags": []string{"owner:labelgate"}}, status: 400, code: 1004, chain: 9300},
		{name: "tags on pro", plan: "pro", body: rec{"name": "a", "type": "A", "content": "192.0.2.1", "tags": []string{"owner:labelgate"}}, status: 200},
		{name: "malformed tag", plan: "pro", body: rec{"name": "a", "type": "A", "content": "192.0.2.1", "tags": []string{"no-colon"}}, status: 400, code: 9100},
		// Names and types.
		{name: "bad type", body: rec{"name": "a", "type": "WAT", "content": "x"}, status: 400, code: 9101},
		{name: "bad name", body: rec{"name": "a..b", "type": "A", "content": "192.0.2.1"}, status: 400, code: 9000},
		{name: "wildcard name", body: rec{"name": "*.apps", "type": "A", "content": "192.0.2.1"}, status: 200},
		{name: "wildcard in the middle", body: rec{"name": "a.*.apps", "type": "A", "content": "192.0.2.1"}, status: 400, code: 9000},
		{name: "malformed JSON", body: nil, status: 400, code: 6007},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := NewServer(t)
			z := s.AddZone(Zone{Name: "example.com", Plan: tc.plan})
			for _, r := range tc.seed {
				if a := call(t, s, "POST", recPath(z), r); a.Status != 200 {
					t.Fatalf("seeding %v: %d %+v", r, a.Status, a.Errors)
				}
			}
			var body any = tc.body
			if tc.body == nil {
				body = "{not json"
			}
			a := call(t, s, "POST", recPath(z), body)
			if a.Status != tc.status || a.code() != tc.code {
				t.Fatalf("got %d/%d %+v, want %d/%d", a.Status, a.code(), a.Errors, tc.status, tc.code)
			}
			if chain := a.chain(); chain != tc.chain {
				t.Fatalf("error_chain %d %+v, want %d", chain, a.Errors, tc.chain)
			}
			if tc.check != nil {
				var got Record
				a.decode(t, &got)
				tc.check(t, got)
			}
		})
	}
}

func TestRecordCRUD(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	z := s.AddZone(Zone{Name: "example.com"})
	a := call(t, s, "POST", recPath(z), map[string]any{"name": "www", "type": "A", "content": "192.0.2.1", "comment": "mine"})
	var r Record
	a.decode(t, &r)
	if r.Name != "www.example.com" || r.ZoneID != z.ID || r.TTL != 1 || r.Comment != "mine" {
		t.Fatalf("created %+v", r)
	}
	// PATCH keeps what it does not mention.
	a = call(t, s, "PATCH", recPath(z)+"/"+r.ID, map[string]any{"content": "192.0.2.9"})
	var p Record
	a.decode(t, &p)
	if p.Content != "192.0.2.9" || p.Comment != "mine" || p.Name != r.Name {
		t.Fatalf("patched %+v", p)
	}
	// PUT replaces everything: no comment sent, no comment kept.
	a = call(t, s, "PUT", recPath(z)+"/"+r.ID, map[string]any{"name": "www", "type": "A", "content": "192.0.2.10"})
	var u Record
	a.decode(t, &u)
	if u.Comment != "" || u.Content != "192.0.2.10" || u.ID != r.ID || !u.CreatedOn.Equal(r.CreatedOn) {
		t.Fatalf("put %+v", u)
	}
	// A record may be changed into a conflicting one: rejected.
	call(t, s, "POST", recPath(z), map[string]any{"name": "other", "type": "CNAME", "content": "x.example.net"})
	if a := call(t, s, "PATCH", recPath(z)+"/"+r.ID, map[string]any{"name": "other"}); a.code() != 81054 {
		t.Fatalf("rename onto CNAME: %d %+v", a.Status, a.Errors)
	}
	// Changes are answered without the 1004 wrapper creates get (no
	// evidence either way for updates; codes.go).
	if a := call(t, s, "PATCH", recPath(z)+"/"+r.ID, map[string]any{"ttl": 30}); a.Status != 400 || a.code() != 9021 || a.chain() != 0 {
		t.Fatalf("PATCH bad TTL: %d %+v", a.Status, a.Errors)
	}
	if a := call(t, s, "PATCH", recPath(z)+"/"+r.ID, map[string]any{"comment": strings.Repeat("x", 101)}); a.Status != 400 || a.code() != 9313 || a.chain() != 0 {
		t.Fatalf("PATCH long comment: %d %+v", a.Status, a.Errors)
	}
	if a := call(t, s, "PATCH", recPath(z)+"/"+r.ID, map[string]any{"type": "TXT", "content": "x", "proxied": true}); a.Status != 400 || a.code() != 1004 || a.chain() != 9004 {
		t.Fatalf("PATCH proxied TXT: %d %+v", a.Status, a.Errors)
	}
	// A record id that is not 32 hex digits cannot be routed (7003).
	for _, m := range []string{"GET", "PATCH", "DELETE"} {
		if a := call(t, s, m, recPath(z)+"/not-an-id", map[string]any{"ttl": 60}); a.Status != 404 || a.code() != 7003 {
			t.Errorf("%s malformed id: %d %+v", m, a.Status, a.Errors)
		}
	}
	if a := call(t, s, "GET", recPath(z)+"/"+r.ID, nil); a.Status != 200 {
		t.Fatalf("get: %d", a.Status)
	}
	if a := call(t, s, "DELETE", recPath(z)+"/"+r.ID, nil); a.Status != 200 || !strings.Contains(string(a.Result), r.ID) {
		t.Fatalf("delete: %d %s", a.Status, a.Result)
	}
	for _, m := range []string{"GET", "PUT", "PATCH", "DELETE"} {
		if a := call(t, s, m, recPath(z)+"/"+r.ID, map[string]any{"name": "www", "type": "A", "content": "192.0.2.1"}); a.Status != 404 || a.code() != 81044 {
			t.Errorf("%s deleted record: %d/%d", m, a.Status, a.code())
		}
	}
}

func TestListFiltersAndPaging(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	z := s.AddZone(Zone{Name: "example.com"})
	for i := range 12 {
		comment := "by hand"
		if i%2 == 0 {
			comment = "managed-by:labelgate svc-" + fmt.Sprint(i)
		}
		if _, err := s.AddRecord(z.ID, Record{Name: fmt.Sprintf("h%02d", i), Type: "A", Content: fmt.Sprintf("192.0.2.%d", i+1), Comment: comment}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AddRecord(z.ID, Record{Name: "h00", Type: "TXT", Content: "hello"}); err != nil {
		t.Fatal(err)
	}
	count := func(query string) int {
		t.Helper()
		a := call(t, s, "GET", recPath(z)+"?"+query, nil)
		if a.Status != 200 {
			t.Fatalf("%s: %d %+v", query, a.Status, a.Errors)
		}
		var rs []Record
		a.decode(t, &rs)
		return len(rs)
	}
	tests := []struct {
		query string
		want  int
	}{
		{"", 13},
		{"type=TXT", 1},
		{"name=h00.example.com", 2},
		{"name.exact=H00.EXAMPLE.COM", 2},
		{"name.exact=h00.example.com&type=A", 1},
		{"name.startswith=h1", 2},
		{"name.endswith=1.example.com", 2},
		{"name.contains=0", 12},
		{"content.exact=192.0.2.3", 1},
		{"comment.startswith=managed-by:", 6},
		{"comment.contains=SVC-1", 1},
		{"comment.exact=by%20hand", 6},
		{"comment.absent=", 1},
		{"comment.present=", 12},
		{"match=any&type=TXT&content.exact=192.0.2.3", 2},
		{"match=all&type=TXT&content.exact=192.0.2.3", 0},
	}
	for _, tc := range tests {
		if got := count(tc.query); got != tc.want {
			t.Errorf("%q: %d records, want %d", tc.query, got, tc.want)
		}
	}
	// Paging: per_page 5 → 3 pages; the last is short; past the end is empty.
	seen := map[string]bool{}
	for page := 1; page <= 4; page++ {
		a := call(t, s, "GET", fmt.Sprintf("%s?per_page=5&page=%d", recPath(z), page), nil)
		var rs []Record
		a.decode(t, &rs)
		ri := a.ResultInfo
		want := []int{5, 5, 3, 0}[page-1]
		if len(rs) != want || ri.Page != page || ri.PerPage != 5 || ri.Count != want || ri.TotalCount != 13 || ri.TotalPages != 3 {
			t.Errorf("page %d: %d records, result_info %+v", page, len(rs), ri)
		}
		for _, r := range rs {
			if seen[r.ID] {
				t.Errorf("record %s on two pages", r.ID)
			}
			seen[r.ID] = true
		}
	}
	// per_page above the maximum is clamped (zones: 50).
	for i := range 60 {
		s.AddZone(Zone{Name: fmt.Sprintf("z%d.test", i)})
	}
	a := call(t, s, "GET", "/zones?per_page=500", nil)
	if a.ResultInfo.PerPage != 50 || a.ResultInfo.TotalPages != 2 || a.ResultInfo.TotalCount != 61 {
		t.Errorf("zones result_info %+v", a.ResultInfo)
	}
	if a := call(t, s, "GET", "/zones?name=z7.test", nil); a.ResultInfo.TotalCount != 1 {
		t.Errorf("zones name filter: %+v", a.ResultInfo)
	}
}

func TestBatch(t *testing.T) {
	t.Parallel()
	s := NewServer(t, WithBatchCap(4))
	z := s.AddZone(Zone{Name: "example.com"})
	old, _ := s.AddRecord(z.ID, Record{Name: "app", Type: "A", Content: "192.0.2.1"})
	keep, _ := s.AddRecord(z.ID, Record{Name: "keep", Type: "A", Content: "192.0.2.2", Comment: "c"})
	put, _ := s.AddRecord(z.ID, Record{Name: "put", Type: "A", Content: "192.0.2.3", Comment: "gone after put"})
	batch := "/zones/" + z.ID + "/dns_records/batch"

	// Deletes run before posts: replacing A app by CNAME app in one batch works.
	a := call(t, s, "POST", batch, map[string]any{
		"deletes": []any{map[string]any{"id": old.ID}},
		"patches": []any{map[string]any{"id": keep.ID, "content": "192.0.2.22"}},
		"puts":    []any{map[string]any{"id": put.ID, "name": "put", "type": "A", "content": "192.0.2.33"}},
		"posts":   []any{map[string]any{"name": "app", "type": "CNAME", "content": "t.cfargotunnel.com", "proxied": true}},
	})
	if a.Status != 200 {
		t.Fatalf("batch: %d %+v", a.Status, a.Errors)
	}
	var res map[string][]Record
	a.decode(t, &res)
	if len(res["deletes"]) != 1 || len(res["patches"]) != 1 || len(res["puts"]) != 1 || len(res["posts"]) != 1 {
		t.Fatalf("batch result %+v", res)
	}
	if res["patches"][0].Comment != "c" || res["puts"][0].Comment != "" {
		t.Errorf("patch kept comment %q, put cleared it %q", res["patches"][0].Comment, res["puts"][0].Comment)
	}
	if n := len(s.Records(z.ID)); n != 3 {
		t.Errorf("%d records after batch, want 3", n)
	}

	// All or nothing: the bad post fails the whole batch, the delete stays undone.
	before := s.Records(z.ID)
	a = call(t, s, "POST", batch, map[string]any{
		"deletes": []any{map[string]any{"id": keep.ID}},
		"posts": []any{
			map[string]any{"name": "new", "type": "A", "content": "192.0.2.50"},
			map[string]any{"name": "bad", "type": "A", "content": "nope"},
		},
	})
	if a.Status != 400 || a.code() != 9005 || !strings.HasPrefix(a.Errors[0].Message, "posts[1]: ") {
		t.Fatalf("bad batch: %d %+v", a.Status, a.Errors)
	}
	if after := s.Records(z.ID); len(after) != len(before) {
		t.Fatalf("failed batch changed the zone: %d → %d records", len(before), len(after))
	}
	// Conflicts are checked against the batch's own earlier operations.
	a = call(t, s, "POST", batch, map[string]any{"posts": []any{
		map[string]any{"name": "dup", "type": "A", "content": "192.0.2.60"},
		map[string]any{"name": "dup", "type": "A", "content": "192.0.2.60"},
	}})
	if a.code() != 81058 {
		t.Errorf("duplicate inside a batch: %d %+v", a.Status, a.Errors)
	}
	// Unknown ids.
	if a := call(t, s, "POST", batch, map[string]any{"deletes": []any{map[string]any{"id": "nope"}}}); a.code() != 81044 {
		t.Errorf("unknown delete: %+v", a.Errors)
	}
	// The cap.
	posts := []any{}
	for i := range 5 {
		posts = append(posts, map[string]any{"name": fmt.Sprintf("n%d", i), "type": "A", "content": "192.0.2.1"})
	}
	if a := call(t, s, "POST", batch, map[string]any{"posts": posts}); a.Status != 400 || a.code() != 81000 {
		t.Errorf("over the cap: %d %+v", a.Status, a.Errors)
	}
	if a := call(t, s, "POST", batch, map[string]any{"posts": posts[:4]}); a.Status != 200 {
		t.Errorf("at the cap: %d %+v", a.Status, a.Errors)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := NewServer(t, WithClock(clk.Now), WithRateLimit(3, time.Minute, 0))
	s.AddToken("other", "other", false)
	for i := range 3 {
		if a := call(t, s, "GET", "/zones", nil); a.Status != 200 {
			t.Fatalf("request %d: %d", i, a.Status)
		}
		clk.Advance(time.Second)
	}
	a := call(t, s, "GET", "/zones", nil)
	if a.Status != 429 || a.code() != 10100 || a.Header.Get("Retry-After") != "60" {
		t.Fatalf("4th request: %d %+v Retry-After %q", a.Status, a.Errors, a.Header.Get("Retry-After"))
	}
	// The whole token is locked out for the lockout, even after the window slid.
	clk.Advance(40 * time.Second)
	a = call(t, s, "GET", "/user/tokens/verify", nil)
	if a.Status != 429 || a.Header.Get("Retry-After") != "20" {
		t.Fatalf("during lockout: %d Retry-After %q", a.Status, a.Header.Get("Retry-After"))
	}
	// Other tokens and the admin endpoints are not affected.
	if a := callAs(t, s, "other", "GET", "/zones", nil); a.Status != 200 {
		t.Errorf("other token: %d", a.Status)
	}
	if res, err := http.Get(s.URL + "/__cfsim/state"); err != nil || res.StatusCode != 200 {
		t.Errorf("admin during lockout: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	clk.Advance(20 * time.Second)
	if a := call(t, s, "GET", "/zones", nil); a.Status != 200 {
		t.Fatalf("after lockout: %d", a.Status)
	}
	// Sliding window: requests older than the window no longer count.
	s.SetRateLimit(RateLimit{Requests: 2, Window: 10 * time.Second})
	call(t, s, "GET", "/zones", nil)
	clk.Advance(6 * time.Second)
	call(t, s, "GET", "/zones", nil)
	clk.Advance(5 * time.Second) // first request left the window
	if a := call(t, s, "GET", "/zones", nil); a.Status != 200 {
		t.Errorf("sliding window: %d", a.Status)
	}
	var limited int
	for _, e := range s.Audit() {
		if e.Fault == "rate-limit" {
			limited++
		}
	}
	if limited != 2 {
		t.Errorf("audit shows %d rate-limited requests, want 2", limited)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := NewServer(t, WithClock(clk.Now))
	get := func() (int, error) {
		req, _ := http.NewRequest("GET", s.URL+"/zones", nil)
		req.Header.Set("Authorization", "Bearer "+s.Token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		res.Body.Close()
		return res.StatusCode, nil
	}
	tests := []struct {
		name   string
		faults Faults
		want   []int // statuses of consecutive requests; -1 = connection error
	}{
		{"fail next 2", Faults{FailNext: 2}, []int{500, 500, 200}},
		{"fail next 503", Faults{FailNext: 1, ErrorStatus: 503}, []int{503, 200}},
		{"error rate 1", Faults{ErrorRate: 1}, []int{500, 500, 500}},
		{"error rate 0", Faults{ErrorRate: 0}, []int{200, 200}},
		{"drop next", Faults{DropNext: 1}, []int{-1, 200}},
		{"drop rate 1", Faults{DropRate: 1}, []int{-1, -1}},
		{"429 storm by count", Faults{Storm429Next: 2}, []int{429, 429, 200}},
		{"other path prefix", Faults{FailNext: 5, PathPrefix: "/accounts"}, []int{200, 200}},
		{"matching path prefix", Faults{FailNext: 1, PathPrefix: "/zones"}, []int{500, 200}},
	}
	for _, tc := range tests {
		s.SetFaults(tc.faults)
		for i, want := range tc.want {
			got, err := get()
			if err != nil {
				got = -1
			}
			if got != want {
				t.Errorf("%s: request %d = %d (%v), want %d", tc.name, i, got, err, want)
			}
		}
	}
	// A storm for a duration, measured on the server's clock.
	s.SetFaults(Faults{Storm429For: time.Minute, StormRetryAfter: 5 * time.Minute})
	a := call(t, s, "GET", "/zones", nil)
	if a.Status != 429 || a.Header.Get("Retry-After") != "60" {
		t.Errorf("storm: %d Retry-After %q", a.Status, a.Header.Get("Retry-After"))
	}
	clk.Advance(time.Minute)
	if a := call(t, s, "GET", "/zones", nil); a.Status != 200 {
		t.Errorf("after storm: %d", a.Status)
	}
	// Latency.
	s.SetFaults(Faults{Latency: 40 * time.Millisecond})
	start := time.Now()
	call(t, s, "GET", "/zones", nil)
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("latency: request took %v", d)
	}
	s.SetFaults(Faults{})
	faults := map[string]int{}
	for _, e := range s.Audit() {
		faults[e.Fault]++
	}
	if faults["drop"] != 3 || faults["5xx"] != 7 || faults["429-storm"] != 3 || faults["latency"] != 1 {
		t.Errorf("audit faults %v", faults)
	}
}

func TestAuditAndForeign(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	z := s.AddZone(Zone{Name: "example.com"})
	foreign, _ := s.AddRecord(z.ID, Record{Name: "legacy", Type: "A", Content: "192.0.2.1", Foreign: true})
	a := call(t, s, "POST", recPath(z), map[string]any{"name": "mine", "type": "A", "content": "192.0.2.2"})
	var mine Record
	a.decode(t, &mine)
	call(t, s, "GET", recPath(z)+"?name=mine.example.com", nil)
	if len(s.ForeignWrites()) != 0 {
		t.Fatalf("foreign writes before touching one: %+v", s.ForeignWrites())
	}
	res, err := http.Get(s.URL + "/__cfsim/state") // admin: not audited
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	log := s.Audit()
	if len(log) != 2 {
		t.Fatalf("audit has %d entries, want 2: %+v", len(log), log)
	}
	w := log[0]
	if w.Method != "POST" || w.Status != 200 || w.Token != "main" || len(w.IDs) != 1 || w.IDs[0] != mine.ID || w.BodySize == 0 || w.Foreign {
		t.Errorf("write entry %+v", w)
	}
	if log[1].Query != "name=mine.example.com" || log[1].IsWrite() {
		t.Errorf("read entry %+v", log[1])
	}
	if got := log[0].Header["Authorization"]; len(got) != 1 || got[0] != "<redacted>" {
		t.Errorf("authorization header not redacted: %v", got)
	}
	call(t, s, "PATCH", recPath(z)+"/"+foreign.ID, map[string]any{"content": "192.0.2.9"})
	fw := s.ForeignWrites()
	if len(fw) != 1 || fw[0].IDs[0] != foreign.ID {
		t.Errorf("foreign writes %+v", fw)
	}
	s.ResetAudit()
	if len(s.Audit()) != 0 {
		t.Error("audit not reset")
	}
}

func TestTunnelConfigEndpoint(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	tun := s.AddTunnel(Tunnel{Name: "default"})
	path := "/accounts/" + s.AccountID + "/cfd_tunnel/" + tun.ID + "/configurations"
	a := call(t, s, "GET", path, nil)
	if a.Status != 200 || !strings.Contains(string(a.Result), `"config":null`) || !strings.Contains(string(a.Result), `"version":0`) {
		t.Fatalf("empty config: %s", a.Result)
	}
	doc := `{"ingress":[{"hostname":"a.example.com","service":"http://a:80","originRequest":{"proxyPort":8080,"ipRules":[{"prefix":"10.0.0.0/8","allow":true}],"bastionMode":false}},{"service":"http_status:404","x-unknown":1}],"warp-routing":{"enabled":true},"someFutureKey":[1,2]}`
	for v := 1; v <= 2; v++ {
		a = call(t, s, "PUT", path, `{"config":`+doc+`}`)
		if a.Status != 200 {
			t.Fatalf("put: %d %+v", a.Status, a.Errors)
		}
		var got struct {
			Version int             `json:"version"`
			Config  json.RawMessage `json:"config"`
		}
		a.decode(t, &got)
		if got.Version != v || string(got.Config) != doc {
			t.Fatalf("put %d: version %d config %s", v, got.Version, got.Config)
		}
	}
	a = call(t, s, "PUT", path, `{"config":{"ingress":[{"hostname":"a.example.com","service":"http://a:80"}]}}`)
	if a.Status != 400 || a.code() != 1056 || !strings.HasPrefix(a.Errors[0].Message, "Bad Configuration: Validation failed: The last ingress rule must match all URLs") {
		t.Fatalf("invalid config: %d %+v", a.Status, a.Errors)
	}
	if cfg, _ := s.TunnelConfigOf(tun.ID); cfg.Version != 2 {
		t.Errorf("rejected PUT changed the version to %d", cfg.Version)
	}
	if a := call(t, s, "GET", "/accounts/"+s.AccountID+"/cfd_tunnel/nope/configurations", nil); a.Status != 404 || a.code() != 1002 {
		t.Errorf("unknown tunnel: %d %+v", a.Status, a.Errors)
	}
}

// TestValidationMatchesDocumentedRules: each cfsim validation against the
// rule it copies. Sources: cloudflared ingress/ingress.go (validateIngress,
// validateHostname; wording copied), peers.md §4 (http_status 100–999,
// wildcard only as the leftmost label), docs PR cloudflare-docs#29012.
func TestValidationMatchesDocumentedRules(t *testing.T) {
	t.Parallel()
	catchAll := `{"service":"http_status:404"}`
	rule := func(fields string) string { return `{"ingress":[` + fields + `,` + catchAll + `]}` }
	tests := []struct {
		name    string
		source  string
		doc     string
		wantErr string // substring; "" = valid
	}{
		{"catch-all only", "cloudflared: a single catch-all rule is valid", `{"ingress":[` + catchAll + `]}`, ""},
		{"no ingress key", "API: a config may carry only warp-routing", `{"warp-routing":{"enabled":true}}`, ""},
		{"last rule not catch-all", "cloudflared errLastRuleNotCatchAll", `{"ingress":[{"hostname":"a.example.com","service":"http://a"}]}`, "The last ingress rule must match all URLs"},
		{"last rule has a path", "cloudflared: catch-all = no hostname and no path", `{"ingress":[{"path":"/x","service":"http://a"}]}`, "The last ingress rule must match all URLs"},
		{"catch-all star", "cloudflared: hostname \"*\" is a catch-all", `{"ingress":[{"hostname":"*","service":"http_status:404"}]}`, ""},
		{"catch-all before last", "cloudflared errRuleShouldNotBeCatchAll", `{"ingress":[{"service":"http://a"},` + catchAll + `]}`, "Rule #1 is matching the hostname ''"},
		{"star before last", "cloudflared errRuleShouldNotBeCatchAll", `{"ingress":[{"hostname":"*","service":"http://a"},` + catchAll + `]}`, "Rule #1 is matching the hostname '*'"},
		{"path-only rule before last", "cloudflared: a path makes a rule specific", rule(`{"path":"^/api","service":"http://a"}`), ""},
		{"wildcard leftmost", "cloudflared matchHost: *.example.com", rule(`{"hostname":"*.example.com","service":"http://a"}`), ""},
		{"wildcard in the middle", "cloudflared errBadWildcard; docs PR #29012", rule(`{"hostname":"a.*.example.com","service":"http://a"}`), "at most one wildcard"},
		{"wildcard inside a label", "peers.md §4: only as the leftmost label", rule(`{"hostname":"*a.example.com","service":"http://a"}`), "at most one wildcard"},
		{"two wildcards", "cloudflared errBadWildcard", rule(`{"hostname":"*.*.example.com","service":"http://a"}`), "at most one wildcard"},
		{"hostname with port", "cloudflared errHostnameContainsPort", rule(`{"hostname":"a.example.com:8443","service":"http://a"}`), "Hostname cannot contain a port"},
		{"service without scheme", "cloudflared: URL needs scheme and host", rule(`{"hostname":"a.example.com","service":"localhost:80"}`), "please make sure it has a scheme and a hostname"},
		{"service without host", "cloudflared: URL needs scheme and host", rule(`{"hostname":"a.example.com","service":"http://"}`), "please make sure it has a scheme and a hostname"},
		{"service with path", "cloudflared: no path in a URL service", rule(`{"hostname":"a.example.com","service":"http://a:80/app"}`), "don't support proxying to a different path"},
		{"service with slash", "cloudflared: u.Path != \"\" rejects \"/\" too", rule(`{"hostname":"a.example.com","service":"http://a:80/"}`), "don't support proxying to a different path"},
		{"tcp service", "cloudflared: non-HTTP schemes are TCP over WebSocket", rule(`{"hostname":"a.example.com","service":"ssh://a:22"}`), ""},
		{"unix socket", "cloudflared: unix: is not validated", rule(`{"hostname":"a.example.com","service":"unix:/run/a.sock"}`), ""},
		{"unix tls socket", "cloudflared: unix+tls:", rule(`{"hostname":"a.example.com","service":"unix+tls:/run/a.sock"}`), ""},
		{"http_status 100", "peers.md §4: 100–999", rule(`{"hostname":"a.example.com","service":"http_status:100"}`), ""},
		{"http_status 999", "peers.md §4: 100–999", rule(`{"hostname":"a.example.com","service":"http_status:999"}`), ""},
		{"http_status 99", "peers.md §4: 100–999", rule(`{"hostname":"a.example.com","service":"http_status:99"}`), "invalid HTTP status code"},
		{"http_status 1000", "peers.md §4: 100–999", rule(`{"hostname":"a.example.com","service":"http_status:1000"}`), "invalid HTTP status code"},
		{"http_status text", "cloudflared: Atoi", rule(`{"hostname":"a.example.com","service":"http_status:abc"}`), "invalid HTTP status code"},
		{"hello_world", "cloudflared HelloWorldService", rule(`{"hostname":"a.example.com","service":"hello_world"}`), ""},
		{"hello-world", "cloudflared alias", rule(`{"hostname":"a.example.com","service":"hello-world"}`), ""},
		{"helloworld", "cloudflared alias", rule(`{"hostname":"a.example.com","service":"helloworld"}`), ""},
		{"bastion", "cloudflared ServiceBastion", rule(`{"hostname":"a.example.com","service":"bastion"}`), ""},
		{"bastionMode origin", "cloudflared: cfg.BastionMode skips URL checks", rule(`{"hostname":"a.example.com","service":"whatever","originRequest":{"bastionMode":true}}`), ""},
		{"socks-proxy", "cloudflared ServiceSocksProxy", rule(`{"hostname":"a.example.com","service":"socks-proxy"}`), ""},
		{"valid path regexp", "cloudflared: path is a Go regexp", rule(`{"hostname":"a.example.com","path":"\\.(jpg|png)$","service":"http://a"}`), ""},
		{"invalid path regexp", "cloudflared: Rule #%d has an invalid regex", rule(`{"hostname":"a.example.com","path":"(","service":"http://a"}`), "Rule #1 has an invalid regex"},
		{"ingress not a list", "API: ingress is a list", `{"ingress":{}}`, "ingress must be a list"},
	}
	for _, tc := range tests {
		err := ValidateTunnelConfig([]byte(tc.doc))
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s (%s): unexpected error %v", tc.name, tc.source, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s (%s): error %v, want %q", tc.name, tc.source, err, tc.wantErr)
		}
	}
}

func TestAccessEndpoints(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	base := "/accounts/" + s.AccountID + "/access"
	a := call(t, s, "POST", base+"/policies", map[string]any{"name": "team", "decision": "allow",
		"include": []any{map[string]any{"email_domain": map[string]any{"domain": "example.com"}}}})
	if a.Status != 200 {
		t.Fatalf("policy: %d %+v", a.Status, a.Errors)
	}
	var pol map[string]any
	a.decode(t, &pol)
	pid := pol["id"].(string)
	if pol["reusable"] != true || pol["app_count"] != float64(0) {
		t.Errorf("policy %v", pol)
	}
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		code   int
	}{
		{"policy without include", "POST", "/policies", map[string]any{"name": "x", "decision": "allow"}, 400, 12130},
		{"policy bad decision", "POST", "/policies", map[string]any{"name": "x", "decision": "maybe", "include": []any{map[string]any{"everyone": map[string]any{}}}}, 400, 12130},
		{"policy unknown selector", "POST", "/policies", map[string]any{"name": "x", "decision": "allow", "include": []any{map[string]any{"nope": map[string]any{}}}}, 400, 12130},
		{"policy bad email", "POST", "/policies", map[string]any{"name": "x", "decision": "allow", "include": []any{map[string]any{"email": map[string]any{"email": "nobody"}}}}, 400, 12130},
		{"policy bad ip", "POST", "/policies", map[string]any{"name": "x", "decision": "allow", "include": []any{map[string]any{"ip": map[string]any{"ip": "10.0.0.0/33"}}}}, 400, 12130},
		{"policy bad country", "POST", "/policies", map[string]any{"name": "x", "decision": "allow", "include": []any{map[string]any{"geo": map[string]any{"country_code": "USA"}}}}, 400, 12130},
		{"app without domain", "POST", "/apps", map[string]any{"name": "x", "type": "self_hosted"}, 400, 12130},
		{"app with unknown policy", "POST", "/apps", map[string]any{"domain": "a.example.com", "type": "self_hosted", "policies": []any{"nope"}}, 400, 12130},
		{"app bad session", "POST", "/apps", map[string]any{"domain": "a.example.com", "type": "self_hosted", "session_duration": "forever"}, 400, 12130},
		{"app", "POST", "/apps", map[string]any{"domain": "a.example.com", "type": "self_hosted", "policies": []any{map[string]any{"id": pid, "precedence": 1}}}, 201, 0},
		{"app same domain", "POST", "/apps", map[string]any{"domain": "A.example.com", "type": "self_hosted"}, 409, 11010},
		{"policy in use", "DELETE", "/policies/" + pid, nil, 409, 12130},
		{"unknown app", "GET", "/apps/nope", nil, 404, 12135},
		{"unknown policy", "DELETE", "/policies/nope", nil, 404, 12135},
	}
	for _, tc := range tests {
		a := call(t, s, tc.method, base+tc.path, tc.body)
		if a.Status != tc.status {
			t.Errorf("%s: %d %+v, want %d", tc.name, a.Status, a.Errors, tc.status)
		}
		if tc.status >= 400 && (a.code() != tc.code || !strings.HasPrefix(a.Errors[0].Message, "access.api.error.")) {
			t.Errorf("%s: error %+v", tc.name, a.Errors)
		}
	}
	apps := s.AccessApps()
	if len(apps) != 1 {
		t.Fatalf("%d apps", len(apps))
	}
	a = call(t, s, "GET", base+"/apps/"+apps[0].ID, nil)
	if !strings.Contains(string(a.Result), `"precedence":1`) || !strings.Contains(string(a.Result), `"name":"team"`) {
		t.Errorf("app policies not expanded: %s", a.Result)
	}
	if a := call(t, s, "DELETE", base+"/apps/"+apps[0].ID, nil); a.Status != 200 {
		t.Fatalf("delete app: %d", a.Status)
	}
	if a := call(t, s, "DELETE", base+"/policies/"+pid, nil); a.Status != 200 {
		t.Fatalf("delete policy after app: %d %+v", a.Status, a.Errors)
	}
}

func TestAdminEndpoints(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	admin := adminCaller(t, s)
	seed := `
zones:
  - name: example.com
    plan: pro
    records:
      - {name: legacy, type: A, content: 192.0.2.1, comment: by hand}
tunnels:
  - name: default
    config:
      ingress:
        - {hostname: legacy.example.com, service: "http://legacy:80", originRequest: {proxyPort: 1080}}
        - {service: "http_status:404"}
access:
  policies:
    - {name: team, decision: allow, include: [{email_domain: {domain: example.com}}]}
  apps:
    - {name: wiki, domain: wiki.example.com, policies: [team]}
`
	if a := admin("POST", "/seed", seed); a.Status != 200 {
		t.Fatalf("seed: %d %+v", a.Status, a.Errors)
	}
	var st StateDump
	if a := admin("GET", "/access/governing?host=wiki.example.com&path=/pages/1", ""); a.Status != 200 || !strings.Contains(string(a.Result), `"domain":"wiki.example.com"`) {
		t.Errorf("governing app of the seeded wiki: %d %s", a.Status, a.Result)
	}
	if a := admin("GET", "/tunnel/route?tunnel="+st0TunnelID(s)+"&host=legacy.example.com&path=/x", ""); a.Status != 200 || !strings.Contains(string(a.Result), `"service":"http://legacy:80"`) {
		t.Errorf("route of the seeded rule: %d %s", a.Status, a.Result)
	}
	if a := admin("GET", "/access/governing?host=other.example.com&path=/", ""); a.Status != 404 {
		t.Errorf("no app covers other.example.com: %d %s", a.Status, a.Result)
	}
	a := admin("GET", "/state", "")
	a.decode(t, &st)
	if len(st.Zones) != 1 || len(st.Zones[0].Records) != 1 || len(st.Zones[0].ForeignIDs) != 1 || len(st.Tunnels) != 1 ||
		st.Tunnels[0].Config == nil || !st.Tunnels[0].Foreign || len(st.Apps) != 1 || !st.Apps[0].Foreign || len(st.Policies) != 1 {
		t.Fatalf("state after seed: %+v", st)
	}
	if a := admin("POST", "/seed", "zones: [{name: bad.com, records: [{name: x, type: A, content: nope}]}]"); a.Status != 400 {
		t.Errorf("bad seed accepted: %d", a.Status)
	}
	if a := admin("PUT", "/faults", `{"fail_next":1,"latency":"1ms"}`); a.Status != 200 {
		t.Fatalf("faults: %d %+v", a.Status, a.Errors)
	}
	if f := s.CurrentFaults(); f.FailNext != 1 || f.Latency != time.Millisecond {
		t.Errorf("faults set: %+v", f)
	}
	if a := call(t, s, "GET", "/zones", nil); a.Status != 500 {
		t.Errorf("fault not applied: %d", a.Status)
	}
	if a := admin("GET", "/audit", ""); !strings.Contains(string(a.Result), `"fault":"5xx"`) {
		t.Errorf("audit: %s", a.Result)
	}
	admin("DELETE", "/audit", "")
	if len(s.Audit()) != 0 {
		t.Error("audit not cleared")
	}
	if a := admin("PUT", "/ratelimit", `{"requests":5,"window":"10s"}`); a.Status != 200 {
		t.Fatalf("ratelimit: %d", a.Status)
	}
	if rl := s.RateLimitSettings(); rl.Requests != 5 || rl.Window != 10*time.Second || rl.Lockout != 10*time.Second {
		t.Errorf("rate limit %+v", rl)
	}
	if a := admin("POST", "/ratelimit/reset", ""); a.Status != 200 {
		t.Errorf("ratelimit reset: %d", a.Status)
	}
	if a := admin("GET", "/endpoints", ""); !strings.Contains(string(a.Result), "dns_records/batch") {
		t.Errorf("endpoints: %s", a.Result)
	}
	if a := admin("POST", "/reset", ""); a.Status != 200 || len(s.Zones()) != 0 || len(s.AccessApps()) != 0 {
		t.Errorf("reset: %d", a.Status)
	}
	if a := admin("GET", "/nope", ""); a.Status != 404 {
		t.Errorf("unknown admin path: %d", a.Status)
	}
	if len(s.Audit()) != 0 {
		t.Errorf("admin requests audited: %+v", s.Audit())
	}
}

// TestConcurrentWrites hammers one zone from many goroutines (run with -race).
func TestConcurrentWrites(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	z := s.AddZone(Zone{Name: "example.com"})
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan string, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				body, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("w%d-%d", w, i), "type": "A", "content": "192.0.2.1"})
				req, _ := http.NewRequest("POST", s.URL+recPath(z), bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+s.Token)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err.Error()
					continue
				}
				if res.StatusCode != 200 {
					errs <- res.Status
				}
				res.Body.Close()
				if i%5 == 0 {
					_ = s.State()
					_ = s.Audit()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	ids := map[string]bool{}
	for _, r := range s.Records(z.ID) {
		ids[r.ID] = true
	}
	if len(ids) != workers*each || len(s.Audit()) != workers*each {
		t.Errorf("%d distinct records, %d audit entries, want %d", len(ids), len(s.Audit()), workers*each)
	}
}

// st0TunnelID is the id of the simulator's first tunnel.
func st0TunnelID(s *Server) string { return s.Tunnels()[0].ID }

// adminCaller calls the simulator's admin endpoints and decodes the
// envelope of the answer.
func adminCaller(t *testing.T, s *Server) func(method, path, body string) answer {
	return func(method, path, body string) answer {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL+"/__cfsim"+path, strings.NewReader(body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		a := answer{Status: res.StatusCode}
		if err := json.NewDecoder(res.Body).Decode(&a); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return a
	}
}
