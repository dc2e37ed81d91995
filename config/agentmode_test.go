package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The compose examples of the agent-mode documentation must work as written.
// testdata/agent-mode holds the configs they mount; the environments below
// are their `environment:` lists, with the ${…} values compose would fill in.

// composeFile reads a documented config and substitutes ${VAR} like Docker
// Compose does.
func composeFile(t *testing.T, name string, vars map[string]string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "agent-mode", name))
	if err != nil {
		t.Fatalf("reading %s: %v", name, err)
	}
	return os.Expand(string(data), func(v string) string {
		s, ok := vars[v]
		if !ok {
			t.Fatalf("%s uses ${%s}, which the test does not provide", name, v)
		}
		return s
	})
}

// mainHostEnv is what the documented main service passes through from the
// host (LABELGATE_CLOUDFLARE_API_TOKEN etc. listed without a value).
func mainHostEnv() map[string]string {
	return map[string]string{
		"LABELGATE_CLOUDFLARE_API_TOKEN":  testCFToken,
		"LABELGATE_CLOUDFLARE_ACCOUNT_ID": testAccountID,
		"LABELGATE_CLOUDFLARE_TUNNEL_ID":  testTunnelID,
	}
}

func TestAgentModeOutboundMain(t *testing.T) {
	t.Parallel()
	file := composeFile(t, "outbound-main.yaml", map[string]string{"AGENT_1_TOKEN": agentToken1, "AGENT_2_TOKEN": agentToken2})
	environ := with(mainHostEnv(), "LABELGATE_AGENT_ENABLED", "true", "LABELGATE_AGENT_LISTEN", ":8081")
	cfg := mustLoad(t, environ, file)

	if cfg.Mode != ModeMain || !cfg.Agent.Enabled || cfg.Agent.Listen != ":8081" {
		t.Errorf("mode %q, agent.enabled %v, agent.listen %q; want main, true, :8081", cfg.Mode, cfg.Agent.Enabled, cfg.Agent.Listen)
	}
	want := map[string]AgentEntry{
		"docker-host-1": {Token: agentToken1, DefaultTunnel: "default"},
		"docker-host-2": {Token: agentToken2, DefaultTunnel: "default"},
	}
	if diff := cmp.Diff(want, cfg.Agent.Agents); diff != "" {
		t.Errorf("agent.agents (-want +got):\n%s", diff)
	}
	wantTunnels := map[string]Tunnel{"default": {AccountID: testAccountID, TunnelID: testTunnelID, Credential: "default"}}
	if diff := cmp.Diff(wantTunnels, cfg.ResolvedTunnels()); diff != "" {
		t.Errorf("tunnels (-want +got):\n%s", diff)
	}
}

func TestAgentModeOutboundMainFromTheDefaultPath(t *testing.T) {
	t.Parallel()
	// The compose file mounts the config at /etc/labelgate/labelgate.yaml
	// and does not set LABELGATE_CONFIG.
	file := composeFile(t, "outbound-main.yaml", map[string]string{"AGENT_1_TOKEN": agentToken1, "AGENT_2_TOKEN": agentToken2})
	p := tempFile(t, "labelgate.yaml", file)
	environ := with(mainHostEnv(), "LABELGATE_AGENT_ENABLED", "true", "LABELGATE_AGENT_LISTEN", ":8081")
	cfg, err := Load(Source{Env: environ, DefaultFile: p})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(cfg.Agent.Agents) != 2 {
		t.Errorf("want the two agents of the default file, got %d", len(cfg.Agent.Agents))
	}
}

func TestAgentModeSharedTokenIsRefused(t *testing.T) {
	t.Parallel()
	// If AGENT_1_TOKEN and AGENT_2_TOKEN were the same, main could not tell
	// the two hosts apart.
	file := composeFile(t, "outbound-main.yaml", map[string]string{"AGENT_1_TOKEN": agentToken1, "AGENT_2_TOKEN": agentToken1})
	_, err := loadWith(t, with(mainHostEnv(), "LABELGATE_AGENT_ENABLED", "true"), file)
	wantProblem(t, problemsOf(t, err), "LABELGATE_AGENT_AGENTS", "agent.agents.docker-host-2.token", "same token")
}

func TestAgentModeInboundMain(t *testing.T) {
	t.Parallel()
	file := composeFile(t, "inbound-main.yaml", map[string]string{"AGENT_1_TOKEN": agentToken1})
	cfg := mustLoad(t, mainHostEnv(), file)
	want := map[string]AgentEntry{
		"docker-host-1": {Token: agentToken1, ConnectTo: "wss://192.168.1.11:8082"},
	}
	if diff := cmp.Diff(want, cfg.Agent.Agents); diff != "" {
		t.Errorf("agent.agents (-want +got):\n%s", diff)
	}
	if !cfg.Agent.Agents["docker-host-1"].Inbound() {
		t.Errorf("docker-host-1 should be inbound")
	}
}

func TestAgentModeAgents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want Connect
	}{
		{
			name: "outbound agent",
			env: map[string]string{
				"LABELGATE_MODE":             "agent",
				"LABELGATE_CONNECT_MODE":     "outbound",
				"LABELGATE_CONNECT_ENDPOINT": "wss://main-host.example.com:8081",
				"LABELGATE_CONNECT_TOKEN":    agentToken1,
				"LABELGATE_DEFAULT_TUNNEL":   "default",
			},
			want: func() Connect {
				c := Defaults().Connect
				c.Endpoint = "wss://main-host.example.com:8081"
				c.Token = agentToken1
				return c
			}(),
		},
		{
			name: "inbound agent",
			env: map[string]string{
				"LABELGATE_MODE":           "agent",
				"LABELGATE_CONNECT_MODE":   "inbound",
				"LABELGATE_CONNECT_LISTEN": ":8082",
				"LABELGATE_CONNECT_TOKEN":  agentToken1,
			},
			want: func() Connect {
				c := Defaults().Connect
				c.Mode = ConnectInbound
				c.Token = agentToken1
				return c
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := mustLoad(t, tt.env, "")
			if cfg.Mode != ModeAgent {
				t.Errorf("mode = %q, want agent", cfg.Mode)
			}
			if diff := cmp.Diff(tt.want, cfg.Connect); diff != "" {
				t.Errorf("connect (-want +got):\n%s", diff)
			}
		})
	}
}
