package cfapi_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/cfapi/cfsim"
)

// rewrite is a transport that changes each request before it is sent: a
// way to make the real SDK send what cfapi never sends (no credentials, a
// malformed body), so Cloudflare's answers to those are exercised too.
type rewrite func(*http.Request)

func (f rewrite) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	f(r)
	return http.DefaultTransport.RoundTrip(r)
}

// TestErrorSituations drives every error situation of the reference table
// of Cloudflare's answers (cfsim/codes.go names the evidence of each)
// through the real SDK client against the simulator, and checks the answer
// (status, code, the error_chain code inside a 1004 wrapper) and the kind
// cfapi gives it.
func TestErrorSituations(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s, c := newClient(t, cfsim.WithClock(clk.Now), cfsim.WithBatchCap(2))
	ctx := ctxT(t)
	free := s.AddZone(cfsim.Zone{Name: "example.com"})
	tun := s.AddTunnel(cfsim.Tunnel{Name: "t"})
	s.AddToken("ro", "readonly", true)
	s.AddAccountToken("acct", "account-owned")
	seed := func(r cfsim.Record) cfsim.Record {
		t.Helper()
		got, err := s.AddRecord(free.ID, r)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	seed(cfsim.Record{Name: "a.example.com", Type: "A", Content: "192.0.2.1"})
	seed(cfsim.Record{Name: "cname.example.com", Type: "CNAME", Content: "t.cfargotunnel.com"})
	txt := seed(cfsim.Record{Name: "txt.example.com", Type: "TXT", Content: "hello"})
	mine := seed(cfsim.Record{Name: "mine.example.com", Type: "A", Content: "192.0.2.2"})
	if _, err := s.AddAccessApp(map[string]any{"domain": "app.example.com", "type": "self_hosted"}, true); err != nil {
		t.Fatal(err)
	}
	client := func(token, base string, change func(*http.Request)) *cfapi.Client {
		t.Helper()
		cfg := cfapi.Config{BaseURL: s.URL + base, Token: token, AccountID: s.AccountID, Timeout: 5 * time.Second}
		if change != nil {
			cfg.HTTPClient = &http.Client{Transport: rewrite(change)}
		}
		cl, err := cfapi.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	noAuth := client(s.Token, "", func(r *http.Request) { r.Header.Del("Authorization") })
	badHeader := client("two words", "", nil)
	unknown := client("unknown-token", "", nil)
	readOnly := client("ro", "", nil)
	acctNoID, _ := cfapi.New(cfapi.Config{BaseURL: s.URL, Token: "acct"})
	s.AddTokenWithout("no-dns", "without DNS permission", "dns")
	s.AddTokenWithout("no-access", "without Access permission", "access")
	noDNS := client("no-dns", "", nil)
	noAccess := client("no-access", "", nil)
	nowhere := client(s.Token, "/nowhere", nil)
	garbled := client(s.Token, "", func(r *http.Request) {
		r.Body = io.NopCloser(strings.NewReader("{not json"))
		r.ContentLength = int64(len("{not json"))
	})
	const missing = "0123456789abcdef0123456789abcdef"
	rec := func(name, typ, content string) cfapi.Record {
		return cfapi.Record{Name: name, Type: typ, Content: content}
	}
	create := func(r cfapi.Record) func() error {
		return func() error { _, err := c.CreateRecord(ctx, free.ID, r); return err }
	}

	tests := []struct {
		situation string
		call      func() error
		status    int
		code      int // errors[0].code
		chain     int // its error_chain's code, when wrapped
		kind      error
	}{
		{"no auth headers", func() error { _, err := noAuth.ListZones(ctx); return err },
			400, 9106, 0, cfapi.ErrUnauthorized},
		{"badly formed Bearer header", func() error { _, err := badHeader.ListZones(ctx); return err },
			400, 6003, 6111, cfapi.ErrUnauthorized},
		{"unknown token on /user/tokens/verify", func() error { _, err := unknown.VerifyToken(ctx); return err },
			401, 1000, 0, cfapi.ErrUnauthorized},
		{"unknown or revoked token, other endpoints", func() error { _, err := unknown.ListZones(ctx); return err },
			403, 9109, 0, cfapi.ErrUnauthorized},
		{"valid token without the permission", func() error { _, err := noDNS.ListRecords(ctx, free.ID, cfapi.RecordFilter{}); return err },
			403, 10000, 0, cfapi.ErrForbidden},
		{"valid token without the permission (Access)", func() error { _, err := noAccess.ListAccessApps(ctx); return err },
			403, 10000, 0, cfapi.ErrForbidden},
		{"account token on /user/tokens/verify (no evidence)", func() error { _, err := acctNoID.VerifyToken(ctx); return err },
			403, 10000, 0, cfapi.ErrForbidden},
		{"token scope forbids the method", func() error {
			_, err := readOnly.CreateRecord(ctx, free.ID, rec("ro.example.com", "A", "192.0.2.9"))
			return err
		}, 403, 10000, 0, cfapi.ErrForbidden},
		{"unknown URI", func() error { _, err := nowhere.ListZones(ctx); return err },
			400, 7000, 0, cfapi.ErrNotFound},
		{"bad zone id", func() error { _, err := c.ListRecords(ctx, missing, cfapi.RecordFilter{}); return err },
			404, 7003, 0, cfapi.ErrNotFound},
		{"bad record id", func() error { _, err := c.GetRecord(ctx, free.ID, "not-a-record-id"); return err },
			404, 7003, 0, cfapi.ErrNotFound},
		{"record not found", func() error { _, err := c.GetRecord(ctx, free.ID, missing); return err },
			404, 81044, 0, cfapi.ErrNotFound},
		{"new CNAME where an A exists", create(rec("a.example.com", "CNAME", "t.cfargotunnel.com")),
			400, 81053, 0, cfapi.ErrConflict},
		{"new A where a CNAME exists", create(rec("cname.example.com", "A", "192.0.2.1")),
			400, 81054, 0, cfapi.ErrConflict},
		{"new AAAA where a CNAME exists", create(rec("cname.example.com", "AAAA", "2001:db8::1")),
			400, 81054, 0, cfapi.ErrConflict},
		{"identical record", create(rec("a.example.com", "A", "192.0.2.1")),
			400, 81058, 0, cfapi.ErrConflict},
		{"invalid name", create(rec("a..example.com", "A", "192.0.2.1")),
			400, 9000, 0, cfapi.ErrValidation},
		{"bad A content", create(rec("b.example.com", "A", "2001:db8::1")),
			400, 9005, 0, cfapi.ErrValidation},
		{"bad AAAA content", create(rec("b.example.com", "AAAA", "192.0.2.1")),
			400, 9006, 0, cfapi.ErrValidation},
		{"bad CNAME content (create)", create(rec("b.example.com", "CNAME", "not a host")),
			400, 1004, 9007, cfapi.ErrValidation},
		{"bad TTL (create)", create(cfapi.Record{Name: "b.example.com", Type: "A", Content: "192.0.2.1", TTL: 30}),
			400, 1004, 9021, cfapi.ErrValidation},
		// cfapi never sends proxied for a type that cannot be proxied on
		// create; a patch sends what it is given.
		{"proxied on a type that cannot be proxied", func() error {
			_, err := c.EditRecord(ctx, free.ID, cfapi.RecordPatch{ID: txt.ID, Proxied: ptr(true)})
			return err
		}, 400, 1004, 9004, cfapi.ErrValidation},
		{"comment too long (create)", create(cfapi.Record{Name: "b.example.com", Type: "A", Content: "192.0.2.1", Comment: strings.Repeat("x", 101)}),
			400, 1004, 9313, cfapi.ErrValidation},
		{"comment too long (update)", func() error {
			_, err := c.UpdateRecord(ctx, free.ID, cfapi.Record{ID: mine.ID, Name: mine.Name, Type: "A", Content: mine.Content, Comment: strings.Repeat("x", 101)})
			return err
		}, 400, 9313, 0, cfapi.ErrValidation},
		{"tags on the Free plan", create(cfapi.Record{Name: "b.example.com", Type: "A", Content: "192.0.2.1", Tags: []string{"owner:labelgate"}}),
			400, 1004, 9300, cfapi.ErrValidation},
		{"invalid tunnel configuration", func() error {
			_, err := c.PutTunnelConfig(ctx, tun.ID, cfapi.TunnelConfig{Ingress: []cfapi.IngressRule{{Hostname: "a.example.com", Service: "http://a"}}})
			return err
		}, 400, 1056, 0, cfapi.ErrValidation},
		{"Access object not found (weak: by status)", func() error { _, err := c.GetAccessApp(ctx, "6f1e2d3c-0000-4000-8000-000000000000"); return err },
			404, 12135, 0, cfapi.ErrNotFound},
		{"Access object not found, on delete (weak: by status)", func() error {
			return c.DeleteAccessPolicy(ctx, "6f1e2d3c-0000-4000-8000-000000000000")
		}, 404, 12135, 0, cfapi.ErrNotFound},
		{"Access app with a domain already used", func() error {
			_, err := c.CreateAccessApp(ctx, cfapi.AccessApp{Name: "dup", Domain: "app.example.com", Type: "self_hosted"})
			return err
		}, 409, 11010, 0, cfapi.ErrConflict},
		{"malformed JSON body", func() error {
			_, err := garbled.CreateRecord(ctx, free.ID, rec("b.example.com", "A", "192.0.2.1"))
			return err
		}, 400, 6007, 0, cfapi.ErrValidation},
		{"tunnel not found (weak: by status)", func() error { _, err := c.GetTunnelConfig(ctx, "6f1e2d3c-0000-4000-8000-000000000000"); return err },
			404, 1002, 0, cfapi.ErrNotFound},
		{"batch too large (no evidence: by status)", func() error {
			_, err := c.BatchRecords(ctx, free.ID, cfapi.Batch{Posts: []cfapi.Record{rec("x1.example.com", "A", "192.0.2.1"), rec("x2.example.com", "A", "192.0.2.1"), rec("x3.example.com", "A", "192.0.2.1")}})
			return err
		}, 400, 81000, 0, cfapi.ErrValidation},
		{"invalid type (no evidence: by status)", create(rec("b.example.com", "WAT", "x")),
			400, 9101, 0, cfapi.ErrValidation},
	}
	// The messages of the answer (errors[0], then its error_chain), as the
	// reference quotes them; "" where it quotes none.
	wantMessages := map[string][]string{
		"no auth headers":                                      {"Missing X-Auth-Key, X-Auth-Email or Authorization headers"},
		"badly formed Bearer header":                           {"Invalid request headers", "Invalid format for Authorization header"},
		"unknown token on /user/tokens/verify":                 {"Invalid API Token"},
		"unknown or revoked token, other endpoints":            {"Invalid access token"},
		"valid token without the permission":                   {"Authentication error"},
		"valid token without the permission (Access)":          {"Authentication error"},
		"account token on /user/tokens/verify (no evidence)":   {""},
		"token scope forbids the method":                       {"POST method not allowed for the api_token authentication scheme"},
		"unknown URI":                                          {"No route for that URI"},
		"bad zone id":                                          {"Could not route to /client/v4/zones/"},
		"bad record id":                                        {"perhaps your object identifier is invalid?"},
		"record not found":                                     {"Record does not exist."},
		"new CNAME where an A exists":                          {"An A, AAAA, or CNAME record with that host already exists."},
		"new A where a CNAME exists":                           {"A CNAME record with that host already exists."},
		"new AAAA where a CNAME exists":                        {"A CNAME record with that host already exists."},
		"identical record":                                     {"An identical record already exists."},
		"invalid name":                                         {"DNS name is invalid."},
		"bad A content":                                        {"Content for A record must be a valid IPv4 address."},
		"bad AAAA content":                                     {"Content for AAAA record must be a valid IPv6 address."},
		"bad CNAME content (create)":                           {"DNS Validation Error", ""},
		"bad TTL (create)":                                     {"DNS Validation Error", "TTL must be between 60 and 86400 seconds, or 1 for Automatic."},
		"proxied on a type that cannot be proxied":             {"DNS Validation Error", "This kind of record cannot be proxied"},
		"comment too long (create)":                            {"DNS Validation Error", "DNS record comment exceeds the maximum length of 100 characters."},
		"comment too long (update)":                            {"DNS record comment exceeds the maximum length of 100 characters."},
		"tags on the Free plan":                                {"DNS Validation Error", "DNS record has 1 tags, exceeding the quota of 0."},
		"invalid tunnel configuration":                         {"Bad Configuration: Validation failed"},
		"Access object not found (weak: by status)":            {"access.api.error.not_found"},
		"Access object not found, on delete (weak: by status)": {"access.api.error.not_found"},
		"Access app with a domain already used":                {"access.api.error.application_already_exists"},
		"malformed JSON body":                                  {"Malformed JSON in request body"},
		"tunnel not found (weak: by status)":                   {"Tunnel not found"},
		"batch too large (no evidence: by status)":             {""},
		"invalid type (no evidence: by status)":                {""},
	}
	for _, tc := range tests {
		t.Run(tc.situation, func(t *testing.T) {
			err := tc.call()
			var e *cfapi.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v, want a *cfapi.Error", err)
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("kind %v, want %v (%v)", e.Kind, tc.kind, err)
			}
			if e.StatusCode != tc.status || len(e.Codes) == 0 || e.Codes[0] != tc.code {
				t.Errorf("answer %d %v, want %d with code %d first (%v)", e.StatusCode, e.Codes, tc.status, tc.code, err)
			}
			if tc.chain != 0 && (len(e.Codes) != 2 || e.Codes[1] != tc.chain) {
				t.Errorf("codes %v, want %d wrapping %d (error_chain read)", e.Codes, tc.code, tc.chain)
			}
			if tc.chain == 0 && len(e.Codes) != 1 {
				t.Errorf("codes %v, want only %d", e.Codes, tc.code)
			}
			if cfapi.Retryable(err) {
				t.Errorf("%v is retryable; only rate limits and transient failures are", err)
			}
			want, ok := wantMessages[tc.situation]
			if !ok {
				t.Fatalf("no expected message for this situation")
			}
			for i, m := range want {
				if i >= len(e.Messages) || !strings.Contains(e.Messages[i], m) {
					t.Errorf("messages %q, want %q at %d", e.Messages, m, i)
				}
			}
		})
	}

	// A delete of a missing object is "gone" (the outcome it wanted); a
	// wrong endpoint (7000) is not, though it classifies as not found.
	if err := c.DeleteAccessPolicy(ctx, "6f1e2d3c-0000-4000-8000-000000000000"); !cfapi.Gone(err) {
		t.Errorf("deleting a missing Access policy: Gone(%v) = false", err)
	}
	if _, err := nowhere.ListZones(ctx); cfapi.Gone(err) || !errors.Is(err, cfapi.ErrNotFound) {
		t.Errorf("an unknown URI: Gone(%v) = true, or not ErrNotFound", err)
	}

	// The rate limit, last: it locks the token out.
	t.Run("rate limited", func(t *testing.T) {
		s.SetFaults(cfsim.Faults{Storm429Next: 1, StormRetryAfter: 300 * time.Second})
		defer s.SetFaults(cfsim.Faults{})
		_, err := c.ListZones(ctx)
		var e *cfapi.Error
		if !errors.Is(err, cfapi.ErrRateLimited) || !errors.As(err, &e) || e.StatusCode != 429 || !e.HasCode(10100) ||
			e.RetryAfter != 300*time.Second || !cfapi.Retryable(err) {
			t.Fatalf("rate limited: %v", err)
		}
	})
	if fw := s.ForeignWrites(); len(fw) != 0 {
		t.Errorf("foreign objects written: %+v", fw)
	}
}

// TestWeakCodesClassifyByStatus: a code without evidence of its meaning —
// unknown ones, the weakly evidenced 12135 and 1002, the simulator's own
// 9101/81000/12130, and 971 — never decides the kind on its own: the HTTP
// status does (401 unauthorized, 403 forbidden, 404 not found, 409
// conflict, 429 rate limited, 408 and 5xx transient, other 4xx
// validation). The answers come from a hand-written server so that any
// code/status pair can be sent, and go through the real SDK.
func TestWeakCodesClassifyByStatus(t *testing.T) {
	t.Parallel()
	var next struct{ status, code int }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(next.status)
		fmt.Fprintf(w, `{"success":false,"errors":[{"code":%d,"message":"m"}],"messages":[],"result":null}`, next.code)
	}))
	t.Cleanup(srv.Close)
	c, err := cfapi.New(cfapi.Config{BaseURL: srv.URL, Token: "t", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	statuses := []struct {
		status int
		kind   error
	}{
		{400, cfapi.ErrValidation},
		{401, cfapi.ErrUnauthorized},
		{403, cfapi.ErrForbidden},
		{404, cfapi.ErrNotFound},
		{408, cfapi.ErrTransient},
		{409, cfapi.ErrConflict},
		{422, cfapi.ErrValidation},
		{429, cfapi.ErrRateLimited},
		{500, cfapi.ErrTransient},
		{502, cfapi.ErrTransient},
		{503, cfapi.ErrTransient},
	}
	for _, code := range []int{99999, 12135, 1002, 9101, 81000, 12130, 971, 1004} {
		for _, st := range statuses {
			next.status, next.code = st.status, code
			_, err := c.ListZones(ctxT(t))
			var e *cfapi.Error
			if !errors.Is(err, st.kind) || !errors.As(err, &e) || e.StatusCode != st.status || !e.HasCode(code) {
				t.Errorf("code %d with %d: %v, want kind %v", code, st.status, err, st.kind)
			}
		}
	}
}

// TestEvidencedCodesDecideOverStatus: a code whose meaning is known decides
// the kind whatever the status (7000 comes with 400, the DNS conflicts
// with 400), and inside a 1004 wrapper the error_chain code decides.
func TestEvidencedCodesDecideOverStatus(t *testing.T) {
	t.Parallel()
	var body bytes.Buffer
	var status int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body.Bytes())
	}))
	t.Cleanup(srv.Close)
	c, err := cfapi.New(cfapi.Config{BaseURL: srv.URL, Token: "t", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		status int
		errors string
		kind   error
	}{
		{400, `[{"code":7000,"message":"No route for that URI"}]`, cfapi.ErrNotFound},
		{400, `[{"code":81053,"message":"x"}]`, cfapi.ErrConflict},
		{400, `[{"code":81054,"message":"x"}]`, cfapi.ErrConflict},
		{400, `[{"code":81057,"message":"Record already exists."}]`, cfapi.ErrConflict},
		{400, `[{"code":10001,"message":"Unable to authenticate request"}]`, cfapi.ErrUnauthorized},
		{403, `[{"code":9109,"message":"Invalid access token"}]`, cfapi.ErrUnauthorized},
		{400, `[{"code":10000,"message":"PUT method not allowed for the api_token authentication scheme"}]`, cfapi.ErrForbidden},
		{400, `[{"code":6003,"message":"Invalid request headers","error_chain":[{"code":6111,"message":"x"}]}]`, cfapi.ErrUnauthorized},
		// A wrapper whose chain holds a conflict is a conflict; one whose
		// chain holds nothing known falls back on the status.
		{400, `[{"code":1004,"message":"DNS Validation Error","error_chain":[{"code":81053,"message":"x"}]}]`, cfapi.ErrConflict},
		{400, `[{"code":1004,"message":"DNS Validation Error","error_chain":[{"code":99999,"message":"x"}]}]`, cfapi.ErrValidation},
		{409, `[{"code":1004,"message":"DNS Validation Error","error_chain":[{"code":99999,"message":"x"}]}]`, cfapi.ErrConflict},
	}
	for _, tc := range tests {
		status = tc.status
		body.Reset()
		fmt.Fprintf(&body, `{"success":false,"errors":%s,"messages":[],"result":null}`, tc.errors)
		_, err := c.ListZones(ctxT(t))
		if !errors.Is(err, tc.kind) {
			t.Errorf("%d %s: %v, want %v", tc.status, tc.errors, err, tc.kind)
		}
	}
}
