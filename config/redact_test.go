package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretsNeverPrint(t *testing.T) {
	t.Parallel()
	secrets := map[string]string{
		"cloudflare": "SECRET-cloudflare-0001",
		"api":        "SECRET-api-token-0002",
		"agent1":     "SECRET-agent-one-0003",
		"credential": "SECRET-credential-0004",
		"fromfile":   "SECRET-from-a-file-0005",
	}
	secretFile := tempFile(t, "token", secrets["fromfile"]+"\n")
	environ := with(nil,
		"LABELGATE_CLOUDFLARE_API_TOKEN", secrets["cloudflare"],
		"LABELGATE_API_TOKEN", secrets["api"],
		"LABELGATE_AGENT_ENABLED", "true",
		"LABELGATE_AGENT_AGENTS", fmt.Sprintf("{h1: {token: %s}, h2: {token_file: %s}}", secrets["agent1"], secretFile),
		"LABELGATE_CLOUDFLARE_CREDENTIALS", fmt.Sprintf("{lab: {api_token: %s, zones: [lab.example.com]}}", secrets["credential"]),
	)
	cfg := mustLoad(t, environ, "")
	if cfg.Agent.Agents["h2"].Token.Reveal() != secrets["fromfile"] {
		t.Fatalf("the file secret was not loaded")
	}

	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "cfg", cfg, "cf", cfg.Cloudflare, "token", cfg.API.Token)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "cfg", cfg, "agents", cfg.Agent.Agents)
	jsonOut, err := json.Marshal(cfg)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	outputs := map[string]string{
		"String":       cfg.String(),
		"%v":           fmt.Sprintf("%v", cfg),
		"%+v":          fmt.Sprintf("%+v", cfg),
		"%#v":          fmt.Sprintf("%#v", cfg),
		"%s":           fmt.Sprintf("%s", cfg), //nolint:staticcheck // S1025: the %s verb is the case under test
		"section %+v":  fmt.Sprintf("%+v", cfg.Cloudflare),
		"section %#v":  fmt.Sprintf("%#v", cfg.Agent),
		"map %v":       fmt.Sprintf("%v", cfg.Agent.Agents),
		"secret %q":    fmt.Sprintf("%q", cfg.API.Token),
		"secret %x":    fmt.Sprintf("%x", cfg.API.Token),
		"secret %d":    fmt.Sprintf("%d", cfg.API.Token),
		"json":         string(jsonOut),
		"slog":         logged.String(),
		"error values": fmt.Sprint(loadErrorWithSecrets(t, secrets)),
	}
	for name, out := range outputs {
		for what, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s output contains the %s secret:\n%s", name, what, out)
			}
		}
	}
	if !strings.Contains(cfg.String(), "api_token: '[redacted]'") {
		t.Errorf("String should show set secrets as [redacted]:\n%s", cfg.String())
	}
}

// loadErrorWithSecrets provokes problems about secrets and returns the error.
func loadErrorWithSecrets(t *testing.T, secrets map[string]string) error {
	t.Helper()
	environ := with(nil,
		"LABELGATE_CLOUDFLARE_API_TOKEN", secrets["cloudflare"],
		"LABELGATE_AGENT_ENABLED", "true",
		"LABELGATE_AGENT_AGENTS", fmt.Sprintf("{a: {token: %s}, b: {token: %s}, c: {token: short, tls_insecure: %s}}",
			secrets["agent1"], secrets["agent1"], secrets["api"]),
	)
	_, err := loadWith(t, environ, "")
	problemsOf(t, err)
	return err
}
