package config

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValidationReportsEveryProblem(t *testing.T) {
	t.Parallel()
	environ := map[string]string{
		"LABELGATE_MODE":                           "main",
		"LABELGATE_LOG_LEVEL":                      "verbose",
		"LABELGATE_LOG_FORMAT":                     "xml",
		"LABELGATE_LABEL_PREFIX":                   ".Labelgate",
		"LABELGATE_DOCKER_POLL_INTERVAL":           "0s",
		"LABELGATE_CLOUDFLARE_API_URL":             "ftp://api",
		"LABELGATE_CLOUDFLARE_REQUESTS_PER_SECOND": "10",
		"LABELGATE_SYNC_POLICY":                    "mirror",
		"LABELGATE_API_ADDRESS":                    "8080",
		"LABELGATE_AGENT_HEARTBEAT_INTERVAL":       "-1s",
	}
	_, err := loadWith(t, environ, "")
	ps := problemsOf(t, err)
	want := []struct{ env, key string }{
		{"LABELGATE_LOG_LEVEL", "log_level"},
		{"LABELGATE_LOG_FORMAT", "log_format"},
		{"LABELGATE_LABEL_PREFIX", "label_prefix"},
		{"LABELGATE_DOCKER_POLL_INTERVAL", "docker.poll_interval"},
		{"LABELGATE_CLOUDFLARE_API_TOKEN", "cloudflare.api_token"},
		{"LABELGATE_CLOUDFLARE_API_URL", "cloudflare.api_url"},
		{"LABELGATE_CLOUDFLARE_REQUESTS_PER_SECOND", "cloudflare.requests_per_second"},
		{"LABELGATE_SYNC_POLICY", "sync.policy"},
		{"LABELGATE_API_ADDRESS", "api.address"},
		{"LABELGATE_AGENT_HEARTBEAT_INTERVAL", "agent.heartbeat_interval"},
	}
	for _, w := range want {
		wantProblem(t, ps, w.env, w.key)
	}
	if len(ps) != len(want) {
		t.Errorf("want %d problems, got %d:\n%s", len(want), len(ps), render(ps))
	}
}

func TestValidationRules(t *testing.T) {
	t.Parallel()
	certFile := tempFile(t, "cert.pem", "-----BEGIN CERTIFICATE-----\n")
	shortTokenFile := tempFile(t, "api-token", "short\n")
	missing := filepath.Join(t.TempDir(), "missing.pem")
	tests := []struct {
		name      string
		base      func() map[string]string
		set       []string // variable, value, …
		file      string
		env, key  string // the problem; both empty = valid
		fragments []string
	}{
		{name: "mode", base: mainEnv, set: []string{"LABELGATE_MODE", "server"}, env: "LABELGATE_MODE", key: "mode", fragments: []string{"main or agent"}},
		{name: "log level warn ok", base: mainEnv, set: []string{"LABELGATE_LOG_LEVEL", "warn"}},
		{name: "log level", base: mainEnv, set: []string{"LABELGATE_LOG_LEVEL", "trace"}, env: "LABELGATE_LOG_LEVEL", key: "log_level", fragments: []string{"debug, info, warn or error"}},
		{name: "log format json ok", base: mainEnv, set: []string{"LABELGATE_LOG_FORMAT", "json"}},
		{name: "label prefix with dots ok", base: mainEnv, set: []string{"LABELGATE_LABEL_PREFIX", "com.example.lg-1"}},
		{name: "label prefix leading dot", base: mainEnv, set: []string{"LABELGATE_LABEL_PREFIX", ".lg"}, env: "LABELGATE_LABEL_PREFIX", key: "label_prefix", fragments: []string{"leading"}},
		{name: "label prefix trailing dot", base: mainEnv, set: []string{"LABELGATE_LABEL_PREFIX", "lg."}, env: "LABELGATE_LABEL_PREFIX", key: "label_prefix"},
		{name: "label prefix double dot", base: mainEnv, set: []string{"LABELGATE_LABEL_PREFIX", "a..b"}, env: "LABELGATE_LABEL_PREFIX", key: "label_prefix"},
		{name: "label prefix upper case", base: mainEnv, set: []string{"LABELGATE_LABEL_PREFIX", "LabelGate"}, env: "LABELGATE_LABEL_PREFIX", key: "label_prefix", fragments: []string{"lowercase"}},
		{name: "label prefix empty in file", base: mainEnv, file: "label_prefix: \"\"\n", env: "LABELGATE_LABEL_PREFIX", key: "label_prefix"},
		{name: "docker tcp ok", base: mainEnv, set: []string{"LABELGATE_DOCKER_ENDPOINT", "tcp://10.0.0.2:2376"}},
		{name: "docker npipe", base: mainEnv, set: []string{"LABELGATE_DOCKER_ENDPOINT", "npipe:////./pipe/docker_engine"}, env: "LABELGATE_DOCKER_ENDPOINT", key: "docker.endpoint", fragments: []string{"unix://"}},
		{name: "docker unix without path", base: mainEnv, set: []string{"LABELGATE_DOCKER_ENDPOINT", "unix://"}, env: "LABELGATE_DOCKER_ENDPOINT", key: "docker.endpoint", fragments: []string{"socket path"}},
		{name: "docker TLS with unix", base: mainEnv, set: []string{"LABELGATE_DOCKER_TLS_CA", certFile}, env: "", key: "docker.tls", fragments: []string{"tcp://"}},
		{name: "docker cert without key", base: mainEnv, set: []string{"LABELGATE_DOCKER_ENDPOINT", "tcp://d:2376", "LABELGATE_DOCKER_TLS_CERT", certFile}, env: "LABELGATE_DOCKER_TLS_KEY", key: "docker.tls.key", fragments: []string{"docker.tls.cert", "private key"}},
		{name: "docker key without cert", base: mainEnv, set: []string{"LABELGATE_DOCKER_ENDPOINT", "tcp://d:2376", "LABELGATE_DOCKER_TLS_KEY", certFile}, env: "LABELGATE_DOCKER_TLS_CERT", key: "docker.tls.cert"},
		{name: "docker CA missing", base: mainEnv, set: []string{"LABELGATE_DOCKER_ENDPOINT", "tcp://d:2376", "LABELGATE_DOCKER_TLS_CA", missing}, env: "LABELGATE_DOCKER_TLS_CA", key: "docker.tls.ca", fragments: []string{"cannot read"}},
		{name: "docker TLS ok", base: mainEnv, set: []string{"LABELGATE_DOCKER_ENDPOINT", "tcp://d:2376", "LABELGATE_DOCKER_TLS_CA", certFile, "LABELGATE_DOCKER_TLS_CERT", certFile, "LABELGATE_DOCKER_TLS_KEY", certFile}},
		{name: "docker TLS path is a directory", base: mainEnv, set: []string{"LABELGATE_DOCKER_ENDPOINT", "tcp://d:2376", "LABELGATE_DOCKER_TLS_CA", filepath.Dir(certFile)}, env: "LABELGATE_DOCKER_TLS_CA", key: "docker.tls.ca", fragments: []string{"directory"}},
		{name: "filter label", base: mainEnv, set: []string{"LABELGATE_DOCKER_FILTER_LABEL", "=x"}, env: "LABELGATE_DOCKER_FILTER_LABEL", key: "docker.filter_label"},
		{name: "swarm true ok", base: mainEnv, set: []string{"LABELGATE_DOCKER_SWARM", "true"}},
		{name: "swarm true in file ok", base: mainEnv, file: "docker:\n  swarm: true\n"},
		{name: "swarm false in file ok", base: mainEnv, file: "docker:\n  swarm: false\n"},
		{name: "swarm", base: mainEnv, set: []string{"LABELGATE_DOCKER_SWARM", "yes"}, env: "LABELGATE_DOCKER_SWARM", key: "docker.swarm", fragments: []string{`"yes"`, "auto", "true or false"}},
		{name: "swarm agent", base: agentEnv, set: []string{"LABELGATE_DOCKER_SWARM", "on"}, env: "LABELGATE_DOCKER_SWARM", key: "docker.swarm"},
		{name: "debounce zero", base: mainEnv, set: []string{"LABELGATE_DOCKER_DEBOUNCE", "0s"}, env: "LABELGATE_DOCKER_DEBOUNCE", key: "docker.debounce", fragments: []string{"greater than zero"}},
		{name: "sync interval zero", base: mainEnv, file: "sync:\n  interval: 0s\n", env: "LABELGATE_SYNC_INTERVAL", key: "sync.interval"},
		{name: "settle timeout zero", base: mainEnv, set: []string{"LABELGATE_SYNC_SETTLE_TIMEOUT", "0s"}, env: "LABELGATE_SYNC_SETTLE_TIMEOUT", key: "sync.settle_timeout"},
		{name: "public ip interval zero", base: mainEnv, set: []string{"LABELGATE_SYNC_PUBLIC_IP_INTERVAL", "0s"}, env: "LABELGATE_SYNC_PUBLIC_IP_INTERVAL", key: "sync.public_ip_interval"},
		{name: "public ip source not a URL", base: mainEnv, set: []string{"LABELGATE_SYNC_PUBLIC_IP_SOURCES", "https://ok.example,ftp://x"}, env: "LABELGATE_SYNC_PUBLIC_IP_SOURCES", key: "sync.public_ip_sources"},
		{name: "remove delay zero ok", base: mainEnv, set: []string{"LABELGATE_SYNC_REMOVE_DELAY", "0s"}},
		{name: "remove delay negative", base: mainEnv, set: []string{"LABELGATE_SYNC_REMOVE_DELAY", "-1m"}, env: "LABELGATE_SYNC_REMOVE_DELAY", key: "sync.remove_delay", fragments: []string{"negative"}},
		{name: "stale ttl zero", base: mainEnv, set: []string{"LABELGATE_AGENT_STALE_TTL", "0s"}, env: "LABELGATE_AGENT_STALE_TTL", key: "agent.stale_ttl"},
		{name: "policy create-only ok", base: mainEnv, set: []string{"LABELGATE_SYNC_POLICY", "create-only"}},
		{name: "policy", base: mainEnv, set: []string{"LABELGATE_SYNC_POLICY", "upsert"}, env: "LABELGATE_SYNC_POLICY", key: "sync.policy", fragments: []string{"sync, upsert-only or create-only"}},
		{name: "api url http ok", base: mainEnv, set: []string{"LABELGATE_CLOUDFLARE_API_URL", "http://cfsim:8787/client/v4"}},
		{name: "api url without host", base: mainEnv, set: []string{"LABELGATE_CLOUDFLARE_API_URL", "https:///client/v4"}, env: "LABELGATE_CLOUDFLARE_API_URL", key: "cloudflare.api_url"},
		{name: "rps 4 ok", base: mainEnv, set: []string{"LABELGATE_CLOUDFLARE_REQUESTS_PER_SECOND", "4"}},
		{name: "rps above 4", base: mainEnv, set: []string{"LABELGATE_CLOUDFLARE_REQUESTS_PER_SECOND", "4.5"}, env: "LABELGATE_CLOUDFLARE_REQUESTS_PER_SECOND", key: "cloudflare.requests_per_second", fragments: []string{"at most 4"}},
		{name: "rps zero", base: mainEnv, set: []string{"LABELGATE_CLOUDFLARE_REQUESTS_PER_SECOND", "0"}, env: "LABELGATE_CLOUDFLARE_REQUESTS_PER_SECOND", key: "cloudflare.requests_per_second"},
		{name: "rps NaN", base: mainEnv, set: []string{"LABELGATE_CLOUDFLARE_REQUESTS_PER_SECOND", "NaN"}, env: "LABELGATE_CLOUDFLARE_REQUESTS_PER_SECOND", key: "cloudflare.requests_per_second"},
		{name: "burst zero", base: mainEnv, set: []string{"LABELGATE_CLOUDFLARE_BURST", "0"}, env: "LABELGATE_CLOUDFLARE_BURST", key: "cloudflare.burst"},
		{name: "comment limit zero", base: mainEnv, set: []string{"LABELGATE_CLOUDFLARE_COMMENT_LIMIT", "0"}, env: "LABELGATE_CLOUDFLARE_COMMENT_LIMIT", key: "cloudflare.comment_limit"},
		{name: "batch size zero", base: mainEnv, set: []string{"LABELGATE_CLOUDFLARE_BATCH_SIZE", "0"}, env: "LABELGATE_CLOUDFLARE_BATCH_SIZE", key: "cloudflare.batch_size"},
		{name: "api address host:port ok", base: mainEnv, set: []string{"LABELGATE_API_ADDRESS", "127.0.0.1:9000"}},
		{name: "api address ipv6 ok", base: mainEnv, set: []string{"LABELGATE_API_ADDRESS", "[::1]:9000"}},
		{name: "api address bad port", base: mainEnv, set: []string{"LABELGATE_API_ADDRESS", ":http"}, env: "LABELGATE_API_ADDRESS", key: "api.address", fragments: []string{"port"}},
		{name: "api address ignored when disabled", base: mainEnv, set: []string{"LABELGATE_API_ENABLED", "false", "LABELGATE_API_ADDRESS", "nonsense"}},
		{name: "api token short", base: mainEnv, set: []string{"LABELGATE_API_TOKEN", "fifteen-chars-x"}, env: "LABELGATE_API_TOKEN", key: "api.token", fragments: []string{"shorter than 16 characters", "at least 16 random characters"}},
		{name: "api token 16 characters ok", base: mainEnv, set: []string{"LABELGATE_API_TOKEN", "sixteen-chars-xy"}},
		{name: "api token short from file", base: mainEnv, file: "api:\n  token: short\n", env: "LABELGATE_API_TOKEN", key: "api.token", fragments: []string{"at least 16"}},
		{name: "api token short from token file", base: mainEnv, set: []string{"LABELGATE_API_TOKEN_FILE", shortTokenFile}, env: "LABELGATE_API_TOKEN", key: "api.token", fragments: []string{"at least 16"}},
		{name: "api token unset ok", base: mainEnv, set: []string{"LABELGATE_API_TOKEN", ""}},
		{name: "api token ignored when disabled", base: mainEnv, set: []string{"LABELGATE_API_ENABLED", "false", "LABELGATE_API_TOKEN", "short"}},
		{name: "agent listen", base: mainEnv, file: "agent:\n  enabled: true\n  listen: 8081\n  agents: {h: {token: " + agentToken1 + "}}\n", env: "LABELGATE_AGENT_LISTEN", key: "agent.listen"},
		{name: "max frame too small", base: mainEnv, set: []string{"LABELGATE_AGENT_MAX_FRAME_BYTES", "1024"}, env: "LABELGATE_AGENT_MAX_FRAME_BYTES", key: "agent.max_frame_bytes"},
		{name: "agent listener cert without key", base: mainEnv, set: []string{"LABELGATE_AGENT_TLS_CERT", certFile}, env: "LABELGATE_AGENT_TLS_KEY", key: "agent.tls.key"},
		{name: "agent client CA missing", base: mainEnv, set: []string{"LABELGATE_AGENT_TLS_CLIENT_CA", missing}, env: "LABELGATE_AGENT_TLS_CLIENT_CA", key: "agent.tls.client_ca", fragments: []string{"cannot read"}},
		{name: "db path empty ok", base: mainEnv, file: "db:\n  path: \"\"\n"},
		{name: "data dir empty", base: mainEnv, file: "data_dir: \"\"\n", env: "LABELGATE_DATA_DIR", key: "data_dir", fragments: []string{"data_dir", "db.path"}},
		{name: "data dir empty with db path ok", base: mainEnv, set: []string{"LABELGATE_DB_PATH", "/data/labelgate.db"}, file: "data_dir: \"\"\n"},
		{name: "dry run ok", base: mainEnv, set: []string{"LABELGATE_DRY_RUN", "yes"}},
		{name: "account id", base: mainEnv, set: []string{"LABELGATE_CLOUDFLARE_ACCOUNT_ID", "acc/1"}, env: "LABELGATE_CLOUDFLARE_ACCOUNT_ID", key: "cloudflare.account_id"},
		{name: "tunnel id not a UUID", base: mainEnv, set: []string{"LABELGATE_CLOUDFLARE_ACCOUNT_ID", testAccountID, "LABELGATE_CLOUDFLARE_TUNNEL_ID", "my-tunnel"}, env: "LABELGATE_CLOUDFLARE_TUNNEL_ID", key: "cloudflare.tunnel_id", fragments: []string{"UUID"}},
		{name: "tunnel id without account", base: mainEnv, set: []string{"LABELGATE_CLOUDFLARE_TUNNEL_ID", testTunnelID}, env: "LABELGATE_CLOUDFLARE_ACCOUNT_ID", key: "cloudflare.account_id"},
		{name: "default tunnel name", base: tunnelEnv, set: []string{"LABELGATE_DEFAULT_TUNNEL", "-x"}, env: "LABELGATE_DEFAULT_TUNNEL", key: "default_tunnel"},

		// Agent mode.
		{name: "agent ok", base: agentEnv},
		{name: "connect mode", base: agentEnv, set: []string{"LABELGATE_CONNECT_MODE", "both"}, env: "LABELGATE_CONNECT_MODE", key: "connect.mode", fragments: []string{"outbound", "inbound"}},
		{name: "endpoint scheme", base: agentEnv, set: []string{"LABELGATE_CONNECT_ENDPOINT", "https://main:8081"}, env: "LABELGATE_CONNECT_ENDPOINT", key: "connect.endpoint", fragments: []string{"ws://", "wss://"}},
		{name: "endpoint with path ok", base: agentEnv, set: []string{"LABELGATE_CONNECT_ENDPOINT", "ws://main:8081/agents/ws"}},
		{name: "endpoint with password", base: agentEnv, set: []string{"LABELGATE_CONNECT_ENDPOINT", "wss://me:pw@main:8081"}, env: "LABELGATE_CONNECT_ENDPOINT", key: "connect.endpoint", fragments: []string{"password"}},
		{name: "endpoint without host", base: agentEnv, set: []string{"LABELGATE_CONNECT_ENDPOINT", "wss://:8081"}, env: "LABELGATE_CONNECT_ENDPOINT", key: "connect.endpoint", fragments: []string{"no host"}},
		{name: "agent token short", base: agentEnv, set: []string{"LABELGATE_CONNECT_TOKEN", "short"}, env: "LABELGATE_CONNECT_TOKEN", key: "connect.token", fragments: []string{"at least 16 random characters"}},
		{name: "agent TLS insecure with CA", base: agentEnv, set: []string{"LABELGATE_CONNECT_TLS_INSECURE", "true", "LABELGATE_CONNECT_TLS_CA", certFile}, env: "LABELGATE_CONNECT_TLS_INSECURE", key: "connect.tls.insecure"},
		{name: "agent key without cert", base: agentEnv, set: []string{"LABELGATE_CONNECT_TLS_KEY", certFile}, env: "LABELGATE_CONNECT_TLS_CERT", key: "connect.tls.cert"},
		{name: "agent CA missing", base: agentEnv, set: []string{"LABELGATE_CONNECT_TLS_CA", missing}, env: "LABELGATE_CONNECT_TLS_CA", key: "connect.tls.ca", fragments: []string{"cannot read"}},
		{name: "agent heartbeat zero", base: agentEnv, set: []string{"LABELGATE_CONNECT_HEARTBEAT_INTERVAL", "0s"}, env: "LABELGATE_CONNECT_HEARTBEAT_INTERVAL", key: "connect.heartbeat_interval"},
		{name: "agent health listen", base: agentEnv, set: []string{"LABELGATE_CONNECT_HEALTH_LISTEN", "localhost"}, env: "LABELGATE_CONNECT_HEALTH_LISTEN", key: "connect.health_listen"},
		{name: "agent ignores api and sync", base: agentEnv, set: []string{"LABELGATE_API_ADDRESS", "bad", "LABELGATE_SYNC_POLICY", "bad"}},
		{name: "agent needs no data dir", base: agentEnv, file: "data_dir: \"\"\n"},
		{name: "agent announces any tunnel name", base: agentEnv, set: []string{"LABELGATE_DEFAULT_TUNNEL", "edge-2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadWith(t, with(tt.base(), tt.set...), tt.file)
			if tt.key == "" && tt.env == "" {
				if err != nil {
					t.Fatalf("want a valid configuration, got %v", err)
				}
				return
			}
			wantProblem(t, problemsOf(t, err), tt.env, tt.key, tt.fragments...)
		})
	}
}

func TestModeRequirements(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		env       map[string]string
		file      string
		probEnv   string // both empty: valid
		probKey   string
		fragments []string
	}{
		{
			name:    "main without any token",
			env:     map[string]string{},
			probEnv: "LABELGATE_CLOUDFLARE_API_TOKEN", probKey: "cloudflare.api_token",
			fragments: []string{"cloudflare.credentials"},
		},
		{
			name: "main with only a credential",
			env:  map[string]string{"LABELGATE_CLOUDFLARE_CREDENTIALS": "{main: {api_token: abc, zones: [example.com]}}"},
		},
		{
			name:    "credential without token",
			env:     map[string]string{"LABELGATE_CLOUDFLARE_CREDENTIALS": "{main: {zones: [example.com]}}"},
			probEnv: "LABELGATE_CLOUDFLARE_CREDENTIALS", probKey: "cloudflare.credentials.main.api_token",
		},
		{
			name:    "agent without token",
			env:     map[string]string{"LABELGATE_MODE": "agent", "LABELGATE_CONNECT_ENDPOINT": "wss://main:8081"},
			probEnv: "LABELGATE_CONNECT_TOKEN", probKey: "connect.token",
		},
		{
			name:    "outbound agent without endpoint",
			env:     map[string]string{"LABELGATE_MODE": "agent", "LABELGATE_CONNECT_TOKEN": agentToken1},
			probEnv: "LABELGATE_CONNECT_ENDPOINT", probKey: "connect.endpoint",
		},
		{
			name: "inbound agent needs no endpoint",
			env:  map[string]string{"LABELGATE_MODE": "agent", "LABELGATE_CONNECT_MODE": "inbound", "LABELGATE_CONNECT_TOKEN": agentToken1},
		},
		{
			name:    "inbound agent without listen address",
			env:     map[string]string{"LABELGATE_MODE": "agent", "LABELGATE_CONNECT_MODE": "inbound", "LABELGATE_CONNECT_TOKEN": agentToken1},
			file:    "connect:\n  listen: \"\"\n",
			probEnv: "LABELGATE_CONNECT_LISTEN", probKey: "connect.listen",
		},
		{
			name:    "agent entry without token",
			env:     with(mainEnv(), "LABELGATE_AGENT_ENABLED", "true", "LABELGATE_AGENT_AGENTS", "{h1: {}}"),
			probEnv: "LABELGATE_AGENT_AGENTS", probKey: "agent.agents.h1.token",
			fragments: []string{"token_file"},
		},
		{
			name:    "agent entry with a short token",
			env:     with(mainEnv(), "LABELGATE_AGENT_ENABLED", "true", "LABELGATE_AGENT_AGENTS", "{h1: {token: abc}}"),
			probEnv: "LABELGATE_AGENT_AGENTS", probKey: "agent.agents.h1.token",
			fragments: []string{"use at least 16 random characters"},
		},
		{
			name:    "two agents share a token",
			env:     with(mainEnv(), "LABELGATE_AGENT_ENABLED", "true", "LABELGATE_AGENT_AGENTS", "{a: {token: "+agentToken1+"}, b: {token: "+agentToken1+"}}"),
			probEnv: "LABELGATE_AGENT_AGENTS", probKey: "agent.agents.b.token",
			fragments: []string{"a and b", "same token"},
		},
		{
			name:    "agent name",
			env:     with(mainEnv(), "LABELGATE_AGENT_ENABLED", "true", "LABELGATE_AGENT_AGENTS", "{_bad: {token: "+agentToken1+"}}"),
			probEnv: "LABELGATE_AGENT_AGENTS", probKey: "agent.agents._bad",
		},
		{
			name:    "outbound agents need the listener",
			env:     with(mainEnv(), "LABELGATE_AGENT_AGENTS", "{h1: {token: "+agentToken1+"}}"),
			probEnv: "LABELGATE_AGENT_ENABLED", probKey: "agent.enabled",
			fragments: []string{"h1", "LABELGATE_AGENT_ENABLED=true"},
		},
		{
			name: "inbound agents do not need the listener",
			env:  with(mainEnv(), "LABELGATE_AGENT_AGENTS", "{h1: {token: "+agentToken1+", connect_to: 'ws://10.0.0.1:8082'}}"),
		},
		{
			name:    "listener without agents",
			env:     with(mainEnv(), "LABELGATE_AGENT_ENABLED", "true"),
			probEnv: "LABELGATE_AGENT_AGENTS", probKey: "agent.agents",
		},
		{
			name:    "connect_to scheme",
			env:     with(mainEnv(), "LABELGATE_AGENT_AGENTS", "{h1: {token: "+agentToken1+", connect_to: 'tcp://10.0.0.1:8082'}}"),
			probEnv: "LABELGATE_AGENT_AGENTS", probKey: "agent.agents.h1.connect_to",
			fragments: []string{"wss://"},
		},
		{
			name:    "tls options need connect_to",
			env:     with(mainEnv(), "LABELGATE_AGENT_ENABLED", "true", "LABELGATE_AGENT_AGENTS", "{h1: {token: "+agentToken1+", tls_insecure: true}}"),
			probEnv: "LABELGATE_AGENT_AGENTS", probKey: "agent.agents.h1.connect_to",
		},
		{
			name:    "inbound agent tls_ca missing",
			env:     with(mainEnv(), "LABELGATE_AGENT_AGENTS", "{h1: {token: "+agentToken1+", connect_to: 'wss://h1:8082', tls_ca: /nonexistent/ca.pem}}"),
			probEnv: "LABELGATE_AGENT_AGENTS", probKey: "agent.agents.h1.tls_ca",
			fragments: []string{"cannot read"},
		},
		{
			name:    "allowed hostname pattern",
			env:     with(tunnelEnv(), "LABELGATE_AGENT_ENABLED", "true", "LABELGATE_AGENT_AGENTS", "{h1: {token: "+agentToken1+", allowed_hostnames: ['[a-']}}"),
			probEnv: "LABELGATE_AGENT_AGENTS", probKey: "agent.agents.h1.allowed_hostnames[0]",
			fragments: []string{"hostname pattern"},
		},
		{
			name:    "allowed tunnel",
			env:     with(tunnelEnv(), "LABELGATE_AGENT_ENABLED", "true", "LABELGATE_AGENT_AGENTS", "{h1: {token: "+agentToken1+", allowed_tunnels: [nope]}}"),
			probEnv: "LABELGATE_AGENT_AGENTS", probKey: "agent.agents.h1.allowed_tunnels[0]",
			fragments: []string{`"nope"`, "configured: default"},
		},
		{
			name: "allowed lists ok",
			env:  with(tunnelEnv(), "LABELGATE_AGENT_ENABLED", "true", "LABELGATE_AGENT_AGENTS", "{h1: {token: "+agentToken1+", allowed_hostnames: ['*.lab.example.com', app.example.com, 'Api.Example.COM.'], allowed_tunnels: [default]}}"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadWith(t, tt.env, tt.file)
			if tt.probEnv == "" && tt.probKey == "" {
				if err != nil {
					t.Fatalf("want a valid configuration, got %v", err)
				}
				return
			}
			wantProblem(t, problemsOf(t, err), tt.probEnv, tt.probKey, tt.fragments...)
		})
	}
}

func TestAllowedListProblemsAreAllReported(t *testing.T) {
	t.Parallel()
	// Every entry that MatchHostname would not understand is refused, so a
	// pattern never silently matches nothing.
	bad := []string{"[a-", "*", "*.com", "app-?.example.com", "a*.example.com", "*.*.example.com", "a.*.example.com", "", "app example.com", "a/b.example.com", "example.com:443", "localhost"}
	file := "agent:\n  enabled: true\n  agents:\n    h1:\n      token: " + agentToken1 + "\n      allowed_hostnames: ["
	for i, h := range bad {
		if i > 0 {
			file += ", "
		}
		file += "'" + h + "'"
	}
	file += "]\n      allowed_tunnels: [default, nope, Default]\n"
	_, err := loadWith(t, tunnelEnv(), file)
	ps := problemsOf(t, err)
	for i, h := range bad {
		wantProblem(t, ps, "LABELGATE_AGENT_AGENTS", fmt.Sprintf("agent.agents.h1.allowed_hostnames[%d]", i), strconv.Quote(h), "hostname pattern")
	}
	wantProblem(t, ps, "LABELGATE_AGENT_AGENTS", "agent.agents.h1.allowed_tunnels[1]", `"nope"`, "default")
	wantProblem(t, ps, "LABELGATE_AGENT_AGENTS", "agent.agents.h1.allowed_tunnels[2]", `"Default"`)
	if want := len(bad) + 2; len(ps) != want {
		t.Errorf("want %d problems, got %d:\n%s", want, len(ps), render(ps))
	}
}

func TestTunnels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		env       map[string]string
		file      string
		want      map[string]Tunnel
		probEnv   string
		probKey   string
		fragments []string
	}{
		{
			name: "no tunnels",
			env:  mainEnv(),
			want: map[string]Tunnel{},
		},
		{
			name: "global default tunnel",
			env:  tunnelEnv(),
			want: map[string]Tunnel{"default": {AccountID: testAccountID, TunnelID: testTunnelID, Credential: "default"}},
		},
		{
			name: "named tunnel inherits the account",
			env:  tunnelEnv(),
			file: "cloudflare:\n  tunnels:\n    Edge:\n      tunnel_id: " + testTunnelID2 + "\n",
			want: map[string]Tunnel{
				"default": {AccountID: testAccountID, TunnelID: testTunnelID, Credential: "default"},
				"Edge":    {AccountID: testAccountID, TunnelID: testTunnelID2, Credential: "default"},
			},
		},
		{
			name: "named default that agrees",
			env:  tunnelEnv(),
			file: "cloudflare:\n  tunnels:\n    default:\n      tunnel_id: " + testTunnelID + "\n",
			want: map[string]Tunnel{"default": {AccountID: testAccountID, TunnelID: testTunnelID, Credential: "default"}},
		},
		{
			name:    "named default that disagrees",
			env:     tunnelEnv(),
			file:    "cloudflare:\n  tunnels:\n    default:\n      tunnel_id: " + testTunnelID2 + "\n",
			probEnv: "LABELGATE_CLOUDFLARE_TUNNEL_ID", probKey: "cloudflare.tunnel_id",
			fragments: []string{"disagrees"},
		},
		{
			name:    "default_tunnel must be configured",
			env:     with(tunnelEnv(), "LABELGATE_DEFAULT_TUNNEL", "edge"),
			probEnv: "LABELGATE_DEFAULT_TUNNEL", probKey: "default_tunnel",
			fragments: []string{`"edge"`, "configured: default"},
		},
		{
			name: "default_tunnel names a named tunnel",
			env:  with(mainEnv(), "LABELGATE_DEFAULT_TUNNEL", "edge", "LABELGATE_CLOUDFLARE_ACCOUNT_ID", testAccountID),
			file: "cloudflare:\n  tunnels:\n    edge:\n      tunnel_id: " + testTunnelID2 + "\n",
			want: map[string]Tunnel{"edge": {AccountID: testAccountID, TunnelID: testTunnelID2, Credential: "default"}},
		},
		{
			name:    "agent default_tunnel must be configured",
			env:     with(tunnelEnv(), "LABELGATE_AGENT_ENABLED", "true", "LABELGATE_AGENT_AGENTS", "{h1: {token: "+agentToken1+", default_tunnel: edge}}"),
			probEnv: "LABELGATE_AGENT_AGENTS", probKey: "agent.agents.h1.default_tunnel",
		},
		{
			name:    "agent default_tunnel without any tunnel",
			env:     with(mainEnv(), "LABELGATE_AGENT_ENABLED", "true", "LABELGATE_AGENT_AGENTS", "{h1: {token: "+agentToken1+", default_tunnel: default}}"),
			probEnv: "LABELGATE_AGENT_AGENTS", probKey: "agent.agents.h1.default_tunnel",
			fragments: []string{"configured: none"},
		},
		{
			name:    "tunnel without an id",
			env:     tunnelEnv(),
			file:    "cloudflare:\n  tunnels:\n    edge: {credential: default}\n",
			probEnv: "LABELGATE_CLOUDFLARE_TUNNELS", probKey: "cloudflare.tunnels.edge.tunnel_id",
		},
		{
			name:    "tunnel id not a UUID",
			env:     tunnelEnv(),
			file:    "cloudflare:\n  tunnels:\n    edge: {tunnel_id: abc}\n",
			probEnv: "LABELGATE_CLOUDFLARE_TUNNELS", probKey: "cloudflare.tunnels.edge.tunnel_id",
			fragments: []string{"UUID"},
		},
		{
			name:    "tunnel name",
			env:     tunnelEnv(),
			file:    "cloudflare:\n  tunnels:\n    'my tunnel': {tunnel_id: " + testTunnelID2 + "}\n",
			probEnv: "LABELGATE_CLOUDFLARE_TUNNELS", probKey: "cloudflare.tunnels.my tunnel",
		},
		{
			name:    "tunnel without account",
			env:     mainEnv(),
			file:    "default_tunnel: edge\ncloudflare:\n  tunnels:\n    edge: {tunnel_id: " + testTunnelID2 + "}\n",
			probEnv: "LABELGATE_CLOUDFLARE_TUNNELS", probKey: "cloudflare.tunnels.edge.account_id",
		},
		{
			name:    "tunnel with an unknown credential",
			env:     tunnelEnv(),
			file:    "cloudflare:\n  tunnels:\n    edge: {tunnel_id: " + testTunnelID2 + ", credential: other}\n",
			probEnv: "LABELGATE_CLOUDFLARE_TUNNELS", probKey: "cloudflare.tunnels.edge.credential",
			fragments: []string{`"other"`},
		},
		{
			name: "default tunnel without the default credential",
			env: with(nil, "LABELGATE_CLOUDFLARE_ACCOUNT_ID", testAccountID, "LABELGATE_CLOUDFLARE_TUNNEL_ID", testTunnelID,
				"LABELGATE_CLOUDFLARE_CREDENTIALS", "{lab: {api_token: abc, zones: [lab.example.com]}}"),
			probEnv: "LABELGATE_CLOUDFLARE_TUNNEL_ID", probKey: "cloudflare.tunnel_id",
			fragments: []string{"no credential", "lab"},
		},
		{
			name:    "api_token and a credential named default",
			env:     with(mainEnv(), "LABELGATE_CLOUDFLARE_CREDENTIALS", "{default: {api_token: abc}}"),
			probEnv: "LABELGATE_CLOUDFLARE_CREDENTIALS", probKey: "cloudflare.credentials.default",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadWith(t, tt.env, tt.file)
			if tt.probEnv != "" || tt.probKey != "" {
				wantProblem(t, problemsOf(t, err), tt.probEnv, tt.probKey, tt.fragments...)
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(tt.want, cfg.ResolvedTunnels()); diff != "" {
				t.Errorf("ResolvedTunnels (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCredentialFor(t *testing.T) {
	t.Parallel()
	cfg := Defaults()
	cfg.Cloudflare.APIToken = "main"
	cfg.Cloudflare.Credentials = map[string]Credential{
		"lab":   {APIToken: "lab", Zones: []string{"lab.example.com"}},
		"apex":  {APIToken: "apex", Zones: []string{"*.example.com"}},
		"apex2": {APIToken: "apex2", Zones: []string{"*.example.com"}},
		"other": {APIToken: "other", Zones: []string{"Example.ORG."}},
		"named": {APIToken: "named"},
	}
	tests := []struct {
		host, want string
	}{
		{"app.lab.example.com", "lab"},
		{"lab.example.com", "lab"},
		{"www.example.com", "apex"}, // a tie goes to the name sorting first
		{"example.com", "apex"},
		{"WWW.example.org.", "other"},
		{"example.net", "default"},
		{"notexample.com", "default"},
	}
	for _, tt := range tests {
		got, ok := cfg.CredentialFor(tt.host)
		if !ok || got != tt.want {
			t.Errorf("CredentialFor(%q) = %q, %v; want %q", tt.host, got, ok, tt.want)
		}
	}
	cfg.Cloudflare.APIToken = ""
	if got, ok := cfg.CredentialFor("example.net"); ok {
		t.Errorf("CredentialFor without a default = %q, want none", got)
	}
}

func TestMatchHostname(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, host string
		want          bool
	}{
		// An exact name matches only itself.
		{"app.example.com", "app.example.com", true},
		{"app.example.com", "APP.example.com.", true},
		{"App.Example.COM.", "app.example.com", true},
		{"app.example.com", "a.app.example.com", false},
		{"app.example.com", "example.com", false},
		{"app.example.com", "app.example.co", false},
		// *.parent matches every name at any depth below parent, not parent.
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "a.b.example.com", true},
		{"*.example.com", "x.y.z.example.com", true},
		{"*.example.com", "A.B.Example.Com.", true},
		{"*.Example.COM.", "a.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "example.com.", false},
		{"*.example.com", "badexample.com", false},
		{"*.example.com", "a.example.com.evil.net", false},
		{"*.example.com", "example.org", false},
		{"*.lab.example.com", "a.lab.example.com", true},
		{"*.lab.example.com", "lab.example.com", false},
		{"*.lab.example.com", "a.example.com", false},
		// A wildcard record lies below its parent too.
		{"*.example.com", "*.example.com", true},
		{"*.example.com", "*.a.example.com", true},
		{"app.example.com", "*.example.com", false},
		// Empty labels are not names below the parent.
		{"*.example.com", ".example.com", false},
		{"*.example.com", "a..example.com", false},
		{"*.example.com", ".a.example.com", false},
		// No other character is special.
		{"app-?.example.com", "app-1.example.com", false},
		{"app-?.example.com", "app-?.example.com", true},
		{"a*.example.com", "ab.example.com", false},
		{"[a-", "a", false},
		{"*", "example.com", false},
		{"*.", "example.com", false},
		{"", "", false},
		{"", "example.com", false},
		{"example.com", "", false},
	}
	for _, tt := range tests {
		if got := MatchHostname(tt.pattern, tt.host); got != tt.want {
			t.Errorf("MatchHostname(%q, %q) = %v, want %v", tt.pattern, tt.host, got, tt.want)
		}
	}
}

func TestDBPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, dataDir, dbPath, want string
	}{
		{name: "defaults", dataDir: DefaultDataDir, want: "/app/config/labelgate.db"},
		{name: "data_dir", dataDir: "/var/lib/labelgate", want: "/var/lib/labelgate/labelgate.db"},
		{name: "data_dir with a trailing slash", dataDir: "/var/lib/labelgate/", want: "/var/lib/labelgate/labelgate.db"},
		{name: "relative data_dir", dataDir: "state", want: "state/labelgate.db"},
		{name: "db.path wins", dataDir: "/var/lib/labelgate", dbPath: "/data/state.db", want: "/data/state.db"},
		{name: "db.path without data_dir", dbPath: "/data/state.db", want: "/data/state.db"},
		{name: "neither", want: ""},
	}
	for _, tt := range tests {
		c := Defaults()
		c.DataDir, c.DB.Path = tt.dataDir, tt.dbPath
		if got := c.DBPath(); got != tt.want {
			t.Errorf("%s: DBPath() = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := Defaults().DBPath(); got != "/app/config/labelgate.db" {
		t.Errorf("Defaults().DBPath() = %q, want /app/config/labelgate.db", got)
	}
}
