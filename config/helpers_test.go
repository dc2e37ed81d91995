package config

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Values that pass validation.
const (
	testCFToken   = "cf-token-0123456789abcdef"
	testAccountID = "0123456789abcdef0123456789abcdef"
	testTunnelID  = "6ff42ae2-765d-4adf-8112-31c55c1551ef"
	testTunnelID2 = "0c2a3e4f-5b6c-4d7e-8f90-a1b2c3d4e5f6"
	agentToken1   = "agent-one-token-0123456789"
	agentToken2   = "agent-two-token-0123456789"
)

// mainEnv is the smallest environment a valid main instance needs.
func mainEnv() map[string]string {
	return map[string]string{"LABELGATE_CLOUDFLARE_API_TOKEN": testCFToken}
}

// tunnelEnv is mainEnv plus the tunnel named default.
func tunnelEnv() map[string]string {
	return with(mainEnv(),
		"LABELGATE_CLOUDFLARE_ACCOUNT_ID", testAccountID,
		"LABELGATE_CLOUDFLARE_TUNNEL_ID", testTunnelID)
}

// agentEnv is the smallest environment a valid outbound agent needs.
func agentEnv() map[string]string {
	return map[string]string{
		"LABELGATE_MODE":             "agent",
		"LABELGATE_CONNECT_ENDPOINT": "wss://main.example.com:8081",
		"LABELGATE_CONNECT_TOKEN":    agentToken1,
	}
}

// with returns a copy of base with the pairs (name, value, name, value, …) set.
func with(base map[string]string, kv ...string) map[string]string {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]string{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// loadWith loads from environ and, when file is not empty, a configuration
// file with that content named by LABELGATE_CONFIG. The default file is
// always absent, so the host's /etc/labelgate is never read.
func loadWith(t *testing.T, environ map[string]string, file string) (Config, error) {
	t.Helper()
	dir := t.TempDir()
	environ = with(environ)
	if file != "" {
		p := filepath.Join(dir, "labelgate.yaml")
		writeFile(t, p, file)
		environ[FileEnv] = p
	}
	return Load(Source{Env: environ, DefaultFile: filepath.Join(dir, "absent.yaml")})
}

func mustLoad(t *testing.T, environ map[string]string, file string) Config {
	t.Helper()
	cfg, err := loadWith(t, environ, file)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return cfg
}

// problemsOf returns the problems of a *ValidationError; any other error
// fails the test.
func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	if err == nil {
		t.Fatalf("Load succeeded, want a validation error")
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Load returned %T (%v), want *ValidationError", err, err)
	}
	return ve.Problems
}

// wantProblem fails unless some problem has exactly this variable and file
// key and a message containing every fragment.
func wantProblem(t *testing.T, ps []Problem, env, key string, fragments ...string) {
	t.Helper()
	for _, p := range ps {
		if p.Env != env || p.Key != key {
			continue
		}
		ok := true
		for _, f := range fragments {
			if !strings.Contains(p.Message, f) {
				ok = false
			}
		}
		if ok {
			return
		}
	}
	t.Errorf("no problem with env %q, key %q and message containing %q; got:\n%s", env, key, fragments, render(ps))
}

func render(ps []Problem) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString("  ")
		b.WriteString(p.String())
		b.WriteString("\n")
	}
	return b.String()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
}

// tempFile writes content to a new file in a temporary directory and returns its path.
func tempFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	writeFile(t, p, content)
	return p
}
