package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secretCase describes one secret with a _file form, in the mode that reads it.
type secretCase struct {
	name     string
	base     func() map[string]string // a valid environment without this secret
	env, key string                   // the value forms
	get      func(Config) Secret
}

func secretCases() []secretCase {
	noToken := func() map[string]string { return map[string]string{"LABELGATE_CLOUDFLARE_TUNNEL_ID": ""} }
	agentNoToken := func() map[string]string {
		return map[string]string{"LABELGATE_MODE": "agent", "LABELGATE_CONNECT_ENDPOINT": "wss://main:8081"}
	}
	return []secretCase{
		{"cloudflare token", noToken, "LABELGATE_CLOUDFLARE_API_TOKEN", "cloudflare.api_token", func(c Config) Secret { return c.Cloudflare.APIToken }},
		{"api token", mainEnv, "LABELGATE_API_TOKEN", "api.token", func(c Config) Secret { return c.API.Token }},
		{"connect token", agentNoToken, "LABELGATE_CONNECT_TOKEN", "connect.token", func(c Config) Secret { return c.Connect.Token }},
	}
}

// fileYAML writes "a.b.c: v" as nested YAML.
func fileYAML(key, value string) string {
	parts := strings.Split(key, ".")
	var b strings.Builder
	for i, p := range parts {
		b.WriteString(strings.Repeat("  ", i))
		b.WriteString(p)
		b.WriteString(":")
		if i == len(parts)-1 {
			fmt.Fprintf(&b, " %q", value)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestSecretFiles(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-value-0123456789"
	for _, sc := range secretCases() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			secretFile := tempFile(t, "secret", "  "+secret+"\n\n")

			t.Run("env _FILE is read and trimmed", func(t *testing.T) {
				t.Parallel()
				cfg := mustLoad(t, with(sc.base(), sc.env+"_FILE", secretFile), "")
				if got := sc.get(cfg).Reveal(); got != secret {
					t.Errorf("%s = %q, want %q", sc.key, got, secret)
				}
			})
			t.Run("file _file key is read and trimmed", func(t *testing.T) {
				t.Parallel()
				cfg := mustLoad(t, sc.base(), fileYAML(sc.key+"_file", secretFile))
				if got := sc.get(cfg).Reveal(); got != secret {
					t.Errorf("%s = %q, want %q", sc.key, got, secret)
				}
			})
			t.Run("both variables set", func(t *testing.T) {
				t.Parallel()
				_, err := loadWith(t, with(sc.base(), sc.env, secret, sc.env+"_FILE", secretFile), "")
				wantProblem(t, problemsOf(t, err), sc.env, sc.key, sc.env, sc.env+"_FILE", "only one")
			})
			t.Run("both file keys set", func(t *testing.T) {
				t.Parallel()
				file := fileYAML(sc.key, secret) + strings.Replace(fileYAML(sc.key+"_file", secretFile), section(sc.key)+":\n", "", 1)
				_, err := loadWith(t, sc.base(), file)
				wantProblem(t, problemsOf(t, err), sc.env, sc.key, sc.key, sc.key+"_file", "only one")
			})
			t.Run("env value beats the file's _file", func(t *testing.T) {
				t.Parallel()
				cfg := mustLoad(t, with(sc.base(), sc.env, "from-env-0123456789"), fileYAML(sc.key+"_file", "/does/not/exist"))
				if got := sc.get(cfg).Reveal(); got != "from-env-0123456789" {
					t.Errorf("%s = %q, want the variable's value", sc.key, got)
				}
			})
			t.Run("env _FILE beats the file's value", func(t *testing.T) {
				t.Parallel()
				cfg := mustLoad(t, with(sc.base(), sc.env+"_FILE", secretFile), fileYAML(sc.key, "from-file-0123456789"))
				if got := sc.get(cfg).Reveal(); got != secret {
					t.Errorf("%s = %q, want the secret file's content", sc.key, got)
				}
			})
			t.Run("missing file names the variable", func(t *testing.T) {
				t.Parallel()
				missing := filepath.Join(t.TempDir(), "missing")
				_, err := loadWith(t, with(sc.base(), sc.env+"_FILE", missing), "")
				wantProblem(t, problemsOf(t, err), sc.env+"_FILE", sc.key+"_file", "cannot read", "missing")
			})
			t.Run("empty file", func(t *testing.T) {
				t.Parallel()
				empty := tempFile(t, "empty", " \n")
				_, err := loadWith(t, with(sc.base(), sc.env+"_FILE", empty), "")
				wantProblem(t, problemsOf(t, err), sc.env+"_FILE", sc.key+"_file", "empty")
			})
		})
	}
}

func TestMapEntrySecretFiles(t *testing.T) {
	t.Parallel()
	const secret = "entry-secret-0123456789"
	secretFile := tempFile(t, "secret", secret+"\n")
	missing := filepath.Join(t.TempDir(), "missing")

	t.Run("agent token_file", func(t *testing.T) {
		t.Parallel()
		file := fmt.Sprintf("agent:\n  enabled: true\n  agents:\n    h1:\n      token_file: %s\n", secretFile)
		cfg := mustLoad(t, mainEnv(), file)
		if got := cfg.Agent.Agents["h1"].Token.Reveal(); got != secret {
			t.Errorf("agent token = %q, want %q", got, secret)
		}
	})
	t.Run("credential api_token_file from the variable", func(t *testing.T) {
		t.Parallel()
		environ := with(nil, "LABELGATE_CLOUDFLARE_CREDENTIALS", fmt.Sprintf("{cf: {api_token_file: %s, zones: [example.com]}}", secretFile))
		cfg := mustLoad(t, environ, "")
		if got := cfg.Cloudflare.Credentials["cf"].APIToken.Reveal(); got != secret {
			t.Errorf("credential token = %q, want %q", got, secret)
		}
	})
	t.Run("both set in an agent entry", func(t *testing.T) {
		t.Parallel()
		file := fmt.Sprintf("agent:\n  enabled: true\n  agents:\n    h1:\n      token: %s\n      token_file: %s\n", agentToken1, secretFile)
		_, err := loadWith(t, mainEnv(), file)
		wantProblem(t, problemsOf(t, err), "LABELGATE_AGENT_AGENTS", "agent.agents.h1.token", "agent.agents.h1.token_file", "only one")
	})
	t.Run("both set in a credential", func(t *testing.T) {
		t.Parallel()
		environ := with(nil, "LABELGATE_CLOUDFLARE_CREDENTIALS", fmt.Sprintf("{cf: {api_token: abc, api_token_file: %s}}", secretFile))
		_, err := loadWith(t, environ, "")
		wantProblem(t, problemsOf(t, err), "LABELGATE_CLOUDFLARE_CREDENTIALS", "cloudflare.credentials.cf.api_token", "api_token_file", "only one")
	})
	t.Run("missing agent token_file", func(t *testing.T) {
		t.Parallel()
		environ := with(mainEnv(), "LABELGATE_AGENT_ENABLED", "true", "LABELGATE_AGENT_AGENTS", fmt.Sprintf("{h1: {token_file: %s}}", missing))
		_, err := loadWith(t, environ, "")
		ps := problemsOf(t, err)
		wantProblem(t, ps, "LABELGATE_AGENT_AGENTS", "agent.agents.h1.token_file", "cannot read", "missing")
		if len(ps) != 1 {
			t.Errorf("an unreadable token file should be reported once, got:\n%s", render(ps))
		}
	})
	t.Run("missing credential api_token_file", func(t *testing.T) {
		t.Parallel()
		file := fmt.Sprintf("cloudflare:\n  credentials:\n    cf:\n      api_token_file: %s\n", missing)
		_, err := loadWith(t, nil, file)
		wantProblem(t, problemsOf(t, err), "LABELGATE_CLOUDFLARE_CREDENTIALS", "cloudflare.credentials.cf.api_token_file", "cannot read")
	})
}

func TestUnusedSectionsAreNotRead(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing")
	// An agent does not serve the HTTP API: its secret file is not opened.
	mustLoad(t, with(agentEnv(), "LABELGATE_API_TOKEN_FILE", missing), "")
	// Main does not read connect.*.
	mustLoad(t, with(mainEnv(), "LABELGATE_CONNECT_TOKEN_FILE", missing, "LABELGATE_CONNECT_TLS_CA", missing), "")
}

func TestAgentRefusesMainSettings(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing")
	tests := []struct {
		name, env, key string
		set            []string
	}{
		{"cloudflare token", "LABELGATE_CLOUDFLARE_API_TOKEN", "cloudflare.api_token", []string{"LABELGATE_CLOUDFLARE_API_TOKEN", "cf-token-on-an-agent"}},
		{"cloudflare token file (not opened)", "LABELGATE_CLOUDFLARE_API_TOKEN", "cloudflare.api_token", []string{"LABELGATE_CLOUDFLARE_API_TOKEN_FILE", missing}},
		{"credentials", "LABELGATE_CLOUDFLARE_CREDENTIALS", "cloudflare.credentials", []string{"LABELGATE_CLOUDFLARE_CREDENTIALS", "{x: {api_token: abc}}"}},
		{"agent listener", "LABELGATE_AGENT_ENABLED", "agent.enabled", []string{"LABELGATE_AGENT_ENABLED", "true"}},
		{"agents map", "LABELGATE_AGENT_AGENTS", "agent.agents", []string{"LABELGATE_AGENT_AGENTS", "{h1: {token: " + agentToken1 + "}}"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadWith(t, with(agentEnv(), tc.set...), "")
			ps := problemsOf(t, err)
			wantProblem(t, ps, tc.env, tc.key, "main")
			if len(ps) != 1 {
				t.Errorf("want exactly one problem, got:\n%s", render(ps))
			}
		})
	}
}

func TestInboundAgentRefusesOutboundSettings(t *testing.T) {
	t.Parallel()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	inbound := with(agentEnv(), "LABELGATE_CONNECT_MODE", "inbound", "LABELGATE_CONNECT_ENDPOINT", "")
	mustLoad(t, inbound, "")
	tests := []struct{ env, key, value string }{
		{"LABELGATE_CONNECT_TLS_CA", "connect.tls.ca", ca},
		{"LABELGATE_CONNECT_TLS_INSECURE", "connect.tls.insecure", "true"},
		{"LABELGATE_CONNECT_ENDPOINT", "connect.endpoint", "wss://main.example:8081"},
	}
	for _, tc := range tests {
		_, err := loadWith(t, with(inbound, tc.env, tc.value), "")
		wantProblem(t, problemsOf(t, err), tc.env, tc.key, "inbound")
	}
}
