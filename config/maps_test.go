package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMapVariables(t *testing.T) {
	t.Parallel()
	fileAgents := `
agent:
  enabled: true
  agents:
    Docker-Host-1:
      token: ` + agentToken1 + `
      default_tunnel: default
    keep-me:
      token: agent-keep-token-0123456789
`
	tests := []struct {
		name string
		env  map[string]string
		file string
		get  func(Config) any
		want any
	}{
		{
			name: "inline YAML, case of the name kept",
			env: map[string]string{
				"LABELGATE_AGENT_ENABLED": "true",
				"LABELGATE_AGENT_AGENTS":  "{Docker-Host-1: {token: " + agentToken1 + ", default_tunnel: default}}",
			},
			get:  func(c Config) any { return c.Agent.Agents },
			want: map[string]AgentEntry{"Docker-Host-1": {Token: agentToken1, DefaultTunnel: "default"}},
		},
		{
			name: "JSON",
			env: map[string]string{
				"LABELGATE_AGENT_ENABLED": "true",
				"LABELGATE_AGENT_AGENTS":  `{"h1": {"token": "` + agentToken1 + `", "allowed_hostnames": ["*.lab.example.com"], "allowed_tunnels": ["default"]}}`,
			},
			get: func(c Config) any { return c.Agent.Agents },
			want: map[string]AgentEntry{"h1": {
				Token:            agentToken1,
				AllowedHostnames: []string{"*.lab.example.com"},
				AllowedTunnels:   []string{"default"},
			}},
		},
		{
			name: "allowed lists in inline YAML",
			env: map[string]string{
				"LABELGATE_AGENT_ENABLED":      "true",
				"LABELGATE_CLOUDFLARE_TUNNELS": "{edge: {tunnel_id: " + testTunnelID2 + "}}",
				"LABELGATE_AGENT_AGENTS":       `{h1: {token: ` + agentToken1 + `, allowed_hostnames: ["*.lab.example.com"], allowed_tunnels: [edge]}}`,
			},
			get: func(c Config) any { return c.Agent.Agents },
			want: map[string]AgentEntry{"h1": {
				Token:            agentToken1,
				AllowedHostnames: []string{"*.lab.example.com"},
				AllowedTunnels:   []string{"edge"},
			}},
		},
		{
			name: "block YAML",
			env: map[string]string{
				"LABELGATE_AGENT_AGENTS": "inbound-1:\n  connect_to: wss://10.0.0.5:8082\n  token: " + agentToken2 + "\n  tls_insecure: true\n",
			},
			get:  func(c Config) any { return c.Agent.Agents },
			want: map[string]AgentEntry{"inbound-1": {Token: agentToken2, ConnectTo: "wss://10.0.0.5:8082", TLSInsecure: true}},
		},
		{
			name: "env entry replaces the file entry as a whole, others kept",
			env:  map[string]string{"LABELGATE_AGENT_AGENTS": "{Docker-Host-1: {token: agent-new-token-0123456789}}"},
			file: fileAgents,
			get:  func(c Config) any { return c.Agent.Agents },
			want: map[string]AgentEntry{
				"Docker-Host-1": {Token: "agent-new-token-0123456789"},
				"keep-me":       {Token: "agent-keep-token-0123456789"},
			},
		},
		{
			name: "names differing in case are different entries",
			env:  map[string]string{"LABELGATE_AGENT_AGENTS": "{docker-host-1: {token: agent-low-token-0123456789}}"},
			file: fileAgents,
			get: func(c Config) any {
				return []string{c.Agent.Agents["Docker-Host-1"].Token.Reveal(), c.Agent.Agents["docker-host-1"].Token.Reveal()}
			},
			want: []string{agentToken1, "agent-low-token-0123456789"},
		},
		{
			name: "empty variable keeps the file's map",
			env:  map[string]string{"LABELGATE_AGENT_AGENTS": ""},
			file: fileAgents,
			get:  func(c Config) any { return len(c.Agent.Agents) },
			want: 2,
		},
		{
			name: "tunnels and credentials",
			env: map[string]string{
				"LABELGATE_CLOUDFLARE_TUNNEL_ID":   "",
				"LABELGATE_DEFAULT_TUNNEL":         "Lab",
				"LABELGATE_CLOUDFLARE_TUNNELS":     "{Lab: {tunnel_id: " + testTunnelID2 + ", credential: LabCred}}",
				"LABELGATE_CLOUDFLARE_CREDENTIALS": "{LabCred: {api_token: lab-token, zones: [lab.example.com, '*.lab2.example.com']}}",
			},
			get: func(c Config) any { return []any{c.Cloudflare.Tunnels, c.Cloudflare.Credentials} },
			want: []any{
				map[string]Tunnel{"Lab": {TunnelID: testTunnelID2, Credential: "LabCred"}},
				map[string]Credential{"LabCred": {APIToken: "lab-token", Zones: []string{"lab.example.com", "*.lab2.example.com"}}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			environ := with(tunnelEnv())
			for k, v := range tt.env {
				environ[k] = v
			}
			cfg := mustLoad(t, environ, tt.file)
			if diff := cmp.Diff(tt.want, tt.get(cfg)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestMapVariableErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		env       string
		value     string
		key       string
		fragments []string
	}{
		{
			name:      "unknown key in an agent",
			env:       "LABELGATE_AGENT_AGENTS",
			value:     "{h1: {tokn: abc}}",
			key:       "agent.agents.h1.tokn",
			fragments: []string{`unknown key "tokn"`, "token"},
		},
		{
			name:      "unknown key in a tunnel",
			env:       "LABELGATE_CLOUDFLARE_TUNNELS",
			value:     `{"t": {"id": "x"}}`,
			key:       "cloudflare.tunnels.t.id",
			fragments: []string{`unknown key "id"`, "tunnel_id"},
		},
		{
			name:      "unknown key in a credential",
			env:       "LABELGATE_CLOUDFLARE_CREDENTIALS",
			value:     "{c: {token: abc}}",
			key:       "cloudflare.credentials.c.token",
			fragments: []string{`unknown key "token"`, "api_token"},
		},
		{
			name:      "not YAML",
			env:       "LABELGATE_AGENT_AGENTS",
			value:     "{h1: {token: abc}",
			key:       "agent.agents",
			fragments: []string{"not valid inline YAML/JSON"},
		},
		{
			name:      "not a map",
			env:       "LABELGATE_AGENT_AGENTS",
			value:     "h1:abc,h2:def",
			key:       "agent.agents",
			fragments: []string{"mapping"},
		},
		{
			name:      "the former scope key",
			env:       "LABELGATE_AGENT_AGENTS",
			value:     "{h1: {token: abcdefabcdefabcdef, scope: {hostnames: [a.example.com]}}}",
			key:       "agent.agents.h1.scope",
			fragments: []string{`unknown key "scope"`, "allowed_hostnames", "allowed_tunnels"},
		},
		{
			name:      "wrong type inside",
			env:       "LABELGATE_AGENT_AGENTS",
			value:     "{h1: {token: abcdefabcdefabcdef, tls_insecure: sometimes}}",
			key:       "agent.agents.h1.tls_insecure",
			fragments: []string{"true or false"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadWith(t, with(mainEnv(), tt.env, tt.value), "")
			wantProblem(t, problemsOf(t, err), tt.env, tt.key, tt.fragments...)
		})
	}
}

func TestMapVariableErrorPointsAtTheRightEntry(t *testing.T) {
	t.Parallel()
	_, err := loadWith(t, with(mainEnv(), "LABELGATE_CLOUDFLARE_TUNNELS", "{a: {tunnel_id: x}, b: [x]}"), "")
	ps := problemsOf(t, err)
	wantProblem(t, ps, "LABELGATE_CLOUDFLARE_TUNNELS", "cloudflare.tunnels.b", "got a list")
	if len(ps) != 1 {
		t.Errorf("want one problem, got:\n%s", render(ps))
	}
}
