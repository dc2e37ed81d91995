package cfsim_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/cfapi/cfsim"
)

// syncBuffer is a bytes.Buffer safe for Main's writer and the test's reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

const seedYAML = `
account: 0123456789abcdef0123456789abcdef
token: seed-token
rate_limit: {requests: 100, window: 60s}
zones:
  - name: example.com
    records:
      - {name: legacy, type: A, content: 192.0.2.1, comment: by hand}
      - {name: _sip._udp, type: SRV, data: {priority: 1, weight: 2, port: 5060, target: sip.example.com}}
tunnels:
  - name: default
    id: 6ff42ae2-765d-4adf-8112-31c55c1551ef
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

func TestMain_ServesSeedUntilCancelled(t *testing.T) {
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed.yaml")
	if err := os.WriteFile(seed, []byte(seedYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cfsim.Main(ctx, []string{"--listen", "127.0.0.1:0", "--seed", seed, "--zone", "other.test:pro", "--batch-cap", "50"}, &stdout, &stderr)
	}()
	urlRE := regexp.MustCompile(`on (http://127\.0\.0\.1:\d+) `)
	var base string
	for deadline := time.Now().Add(5 * time.Second); base == ""; {
		if m := urlRE.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("Main exited %d early: %s", code, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no URL announced; stdout %q stderr %q", stdout.String(), stderr.String())
		}
	}

	c, err := cfapi.New(cfapi.Config{BaseURL: base, Token: "seed-token", AccountID: "0123456789abcdef0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
	defer ccancel()
	if _, err := c.VerifyToken(cctx); err != nil {
		t.Fatalf("verify: %v", err)
	}
	zones, err := c.ListZones(cctx)
	if err != nil || len(zones) != 2 {
		t.Fatalf("zones %+v %v", zones, err)
	}
	z, err := c.ZoneForHostname(cctx, "legacy.example.com")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := c.ListRecords(cctx, z.ID, cfapi.RecordFilter{})
	if err != nil || len(recs) != 2 || recs[0].Comment != "by hand" || recs[1].SRV == nil || recs[1].SRV.Port != 5060 {
		t.Fatalf("records %+v %v", recs, err)
	}
	cfg, err := c.GetTunnelConfig(cctx, "6ff42ae2-765d-4adf-8112-31c55c1551ef")
	if err != nil || cfg.Version != 1 || len(cfg.Ingress) != 2 || cfg.Ingress[0].Hostname != "legacy.example.com" {
		t.Fatalf("tunnel config %+v %v", cfg, err)
	}
	apps, err := c.ListAccessApps(cctx)
	if err != nil || len(apps) != 1 || len(apps[0].Policies) != 1 {
		t.Fatalf("apps %+v %v", apps, err)
	}
	// The seed token is the only one accepted.
	wrong, _ := cfapi.New(cfapi.Config{BaseURL: base, Token: "cfsim-token"})
	if _, err := wrong.ListZones(cctx); err == nil {
		t.Error("default token accepted although the seed set one")
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Main did not stop after cancel")
	}
}

func TestMain_BadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("zones: [{name: x.com, unknown_key: 1}]"), 0o600)
	tests := []struct {
		args []string
		code int
	}{
		{[]string{"--nope"}, 2},
		{[]string{"extra"}, 2},
		{[]string{"--rate-limit", "lots"}, 2},
		{[]string{"--seed", filepath.Join(dir, "missing.yaml")}, 1},
		{[]string{"--seed", bad}, 1},
		{[]string{"--listen", "256.0.0.1:0"}, 1},
		{[]string{"--help"}, 0},
	}
	for _, tc := range tests {
		var out, errOut syncBuffer
		if code := cfsim.Main(context.Background(), tc.args, &out, &errOut); code != tc.code {
			t.Errorf("Main(%v) = %d, want %d (stderr %q)", tc.args, code, tc.code, errOut.String())
		}
	}
}
