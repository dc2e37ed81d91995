package config

import (
	"testing"
)

// TestPinnedTemplates: access.templates is read from the file and the
// variable, with the label parser's values and checks; problems name the
// template's property.
func TestPinnedTemplates(t *testing.T) {
	t.Parallel()
	file := `
access:
  templates:
    team:
      policy.decision: allow
      policy.include.emails_ending_in: "@company.io"
      policy.include.everyone: true
      session_duration: 12h
`
	cfg := mustLoad(t, mainEnv(), file)
	tpls, problems := cfg.PinnedTemplates()
	if len(problems) != 0 {
		t.Fatalf("problems: %+v", problems)
	}
	team, ok := tpls["team"]
	if !ok || team.Policy.Decision != "allow" || team.SessionDuration != "12h" || len(team.Policy.Include) != 2 {
		t.Fatalf("pinned team = %+v", team)
	}

	cfg = mustLoad(t, with(mainEnv(), "LABELGATE_ACCESS_TEMPLATES", `{ops: {policy.include.emails: "a@example.com"}}`), file)
	if tpls, _ := cfg.PinnedTemplates(); len(tpls) != 2 {
		t.Errorf("the variable adds to the file's templates: got %d templates", len(tpls))
	}

	_, err := loadWith(t, mainEnv(), `
access:
  templates:
    team:
      policy.decision: maybe
      policy.include.emails: "a@example.com"
    empty: {}
`)
	ps := problemsOf(t, err)
	wantProblem(t, ps, "LABELGATE_ACCESS_TEMPLATES", "access.templates.team.policy.decision", "decision", "maybe")
	wantProblem(t, ps, "LABELGATE_ACCESS_TEMPLATES", "access.templates.empty", "no properties")
}

// TestRequireTLSSettings: with require_tls, a ws:// address is refused at
// start, naming the setting that asks for TLS.
func TestRequireTLSSettings(t *testing.T) {
	t.Parallel()
	_, err := loadWith(t, tunnelEnv(), `
agent:
  require_tls: true
  agents:
    a: {token: `+agentToken1+`, connect_to: "ws://10.0.0.1:8082"}
`)
	wantProblem(t, problemsOf(t, err), "LABELGATE_AGENT_AGENTS", "agent.agents.a.connect_to", "agent.require_tls", "wss://")

	_, err = loadWith(t, tunnelEnv(), `
agent:
  agents:
    a: {token: `+agentToken1+`, connect_to: "ws://10.0.0.1:8082", require_tls: true}
`)
	wantProblem(t, problemsOf(t, err), "LABELGATE_AGENT_AGENTS", "agent.agents.a.connect_to", "agent.agents.a.require_tls")

	mustLoad(t, tunnelEnv(), `
agent:
  require_tls: true
  agents:
    a: {token: `+agentToken1+`, connect_to: "wss://10.0.0.1:8082", require_tls: true}
`)

	_, err = loadWith(t, with(agentEnv(), "LABELGATE_CONNECT_ENDPOINT", "ws://main:8081", "LABELGATE_CONNECT_REQUIRE_TLS", "true"), "")
	wantProblem(t, problemsOf(t, err), "LABELGATE_CONNECT_ENDPOINT", "connect.endpoint", "connect.require_tls")
	mustLoad(t, with(agentEnv(), "LABELGATE_CONNECT_REQUIRE_TLS", "true"), "")
}

// TestAgentScopeAndCaps: allowed_zones takes domain names; the handshake caps
// must be at least 1.
func TestAgentScopeAndCaps(t *testing.T) {
	t.Parallel()
	cfg := mustLoad(t, tunnelEnv(), `
agent:
  enabled: true
  max_pending_handshakes: 1000
  max_pending_handshakes_per_address: 200
  agents:
    a: {token: `+agentToken1+`, allowed_zones: [example.com, lab.example.org]}
`)
	if got := cfg.Agent.Agents["a"].AllowedZones; len(got) != 2 || cfg.Agent.MaxPendingHandshakes != 1000 || cfg.Agent.MaxPendingHandshakesPerAddress != 200 {
		t.Errorf("zones %v, caps %d/%d", got, cfg.Agent.MaxPendingHandshakes, cfg.Agent.MaxPendingHandshakesPerAddress)
	}
	_, err := loadWith(t, with(tunnelEnv(), "LABELGATE_AGENT_MAX_PENDING_HANDSHAKES", "0"), `
agent:
  enabled: true
  agents:
    a: {token: `+agentToken1+`, allowed_zones: ["*.example.com", "not a zone"]}
`)
	ps := problemsOf(t, err)
	wantProblem(t, ps, "LABELGATE_AGENT_AGENTS", "agent.agents.a.allowed_zones[0]", "not a zone name")
	wantProblem(t, ps, "LABELGATE_AGENT_AGENTS", "agent.agents.a.allowed_zones[1]", "not a zone name")
	wantProblem(t, ps, "LABELGATE_AGENT_MAX_PENDING_HANDSHAKES", "agent.max_pending_handshakes", "at least 1")
}
