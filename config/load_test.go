package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDefaults(t *testing.T) {
	t.Parallel()
	got := mustLoad(t, mainEnv(), "")
	want := Defaults()
	want.Cloudflare.APIToken = testCFToken
	want.Docker.Swarm = "auto" // the mode's default, filled in by Load
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load with only a token (-want +got):\n%s", diff)
	}
}

// docker.swarm's default depends on the mode; a value given wins.
func TestSwarmDefaultByMode(t *testing.T) {
	t.Parallel()
	if got := mustLoad(t, mainEnv(), "").Docker.Swarm; got != "auto" {
		t.Errorf("main's docker.swarm = %q, want auto", got)
	}
	if got := mustLoad(t, agentEnv(), "").Docker.Swarm; got != "false" {
		t.Errorf("an agent's docker.swarm = %q, want false", got)
	}
	if got := mustLoad(t, with(agentEnv(), "LABELGATE_DOCKER_SWARM", "TRUE"), "").Docker.Swarm; got != "true" {
		t.Errorf("an agent's docker.swarm set to TRUE = %q, want true", got)
	}
	if got := mustLoad(t, mainEnv(), "docker:\n  swarm: false\n").Docker.Swarm; got != "false" {
		t.Errorf("main's docker.swarm from the file = %q, want false", got)
	}
}

func TestDefaultsNeedOnlyAToken(t *testing.T) {
	t.Parallel()
	_, err := loadWith(t, nil, "")
	ps := problemsOf(t, err)
	if len(ps) != 1 {
		t.Fatalf("want exactly the missing-token problem, got:\n%s", render(ps))
	}
	wantProblem(t, ps, "LABELGATE_CLOUDFLARE_API_TOKEN", "cloudflare.api_token", "token")
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file string
		env  map[string]string
		get  func(Config) any
		want any
	}{
		{
			name: "default",
			get:  func(c Config) any { return c.Sync.RemoveDelay },
			want: 30 * time.Minute,
		},
		{
			name: "file over default",
			file: "sync:\n  remove_delay: 5m\n",
			get:  func(c Config) any { return c.Sync.RemoveDelay },
			want: 5 * time.Minute,
		},
		{
			name: "env over file",
			file: "sync:\n  remove_delay: 5m\n",
			env:  map[string]string{"LABELGATE_SYNC_REMOVE_DELAY": "7m"},
			get:  func(c Config) any { return c.Sync.RemoveDelay },
			want: 7 * time.Minute,
		},
		{
			name: "set but empty env falls back to the file",
			file: "sync:\n  remove_delay: 5m\n",
			env:  map[string]string{"LABELGATE_SYNC_REMOVE_DELAY": ""},
			get:  func(c Config) any { return c.Sync.RemoveDelay },
			want: 5 * time.Minute,
		},
		{
			name: "set but empty env falls back to the default",
			env:  map[string]string{"LABELGATE_LOG_LEVEL": "", "LABELGATE_API_ENABLED": ""},
			get:  func(c Config) any { return []any{c.LogLevel, c.API.Enabled} },
			want: []any{"info", true},
		},
		{
			name: "bool from file, env overrides",
			file: "dry_run: true\napi:\n  enabled: false\n",
			env:  map[string]string{"LABELGATE_DRY_RUN": "no"},
			get:  func(c Config) any { return []any{c.API.Enabled, c.DryRun} },
			want: []any{false, false},
		},
		{
			name: "api.behind_tls from file, default false",
			file: "api:\n  behind_tls: true\n",
			get:  func(c Config) any { return []any{c.API.BehindTLS, Defaults().API.BehindTLS} },
			want: []any{true, false},
		},
		{
			name: "api.behind_tls from env",
			env:  map[string]string{"LABELGATE_API_BEHIND_TLS": "true"},
			get:  func(c Config) any { return c.API.BehindTLS },
			want: true,
		},
		{
			name: "dry_run from env",
			env:  map[string]string{"LABELGATE_DRY_RUN": "true"},
			get:  func(c Config) any { return c.DryRun },
			want: true,
		},
		{
			name: "data_dir from file, db.path from env",
			file: "data_dir: /var/lib/labelgate\n",
			env:  map[string]string{"LABELGATE_DB_PATH": "/data/state.db"},
			get:  func(c Config) any { return []any{c.DataDir, c.DB.Path, c.DBPath()} },
			want: []any{"/var/lib/labelgate", "/data/state.db", "/data/state.db"},
		},
		{
			name: "data_dir from env over file",
			file: "data_dir: /var/lib/labelgate\n",
			env:  map[string]string{"LABELGATE_DATA_DIR": "/srv/labelgate"},
			get:  func(c Config) any { return []any{c.DataDir, c.DBPath()} },
			want: []any{"/srv/labelgate", "/srv/labelgate/labelgate.db"},
		},
		{
			name: "numbers",
			file: "cloudflare:\n  requests_per_second: 2.5\n  burst: 12\n",
			env:  map[string]string{"LABELGATE_CLOUDFLARE_BURST": "15", "LABELGATE_AGENT_MAX_FRAME_BYTES": "1048576"},
			get: func(c Config) any {
				return []any{c.Cloudflare.RequestsPerSecond, c.Cloudflare.Burst, c.Agent.MaxFrameBytes}
			},
			want: []any{2.5, 15, int64(1 << 20)},
		},
		{
			// main does not read connect.*, so the path need not exist.
			name: "nested struct from both",
			file: "connect:\n  tls:\n    ca: /ca.pem\n",
			env:  map[string]string{"LABELGATE_CONNECT_TLS_INSECURE": "true", "LABELGATE_DOCKER_FILTER_LABEL": "labelgate.enable=true"},
			get:  func(c Config) any { return []any{c.Connect.TLS.CA, c.Connect.TLS.Insecure, c.Docker.FilterLabel} },
			want: []any{"/ca.pem", true, "labelgate.enable=true"},
		},
		{
			name: "enumerations are case-insensitive",
			env:  map[string]string{"LABELGATE_LOG_LEVEL": "DEBUG", "LABELGATE_SYNC_POLICY": "Upsert-Only"},
			get:  func(c Config) any { return []any{c.LogLevel, c.Sync.Policy} },
			want: []any{"debug", PolicyUpsertOnly},
		},
		{
			name: "zero duration from env",
			env:  map[string]string{"LABELGATE_SYNC_REMOVE_DELAY": "0"},
			get:  func(c Config) any { return c.Sync.RemoveDelay },
			want: time.Duration(0),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			environ := with(mainEnv())
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

func TestDockerHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		file string
		want string
	}{
		{name: "built-in default", want: "unix:///var/run/docker.sock"},
		{name: "DOCKER_HOST replaces the default", env: map[string]string{"DOCKER_HOST": "tcp://docker:2375"}, want: "tcp://docker:2375"},
		{name: "empty DOCKER_HOST is ignored", env: map[string]string{"DOCKER_HOST": ""}, want: "unix:///var/run/docker.sock"},
		{
			name: "file beats DOCKER_HOST",
			env:  map[string]string{"DOCKER_HOST": "tcp://docker:2375"},
			file: "docker:\n  endpoint: unix:///run/docker.sock\n",
			want: "unix:///run/docker.sock",
		},
		{
			name: "LABELGATE_DOCKER_ENDPOINT beats DOCKER_HOST",
			env:  map[string]string{"DOCKER_HOST": "tcp://docker:2375", "LABELGATE_DOCKER_ENDPOINT": "tcp://other:2375"},
			want: "tcp://other:2375",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			environ := with(mainEnv())
			for k, v := range tt.env {
				environ[k] = v
			}
			if got := mustLoad(t, environ, tt.file).Docker.Endpoint; got != tt.want {
				t.Errorf("docker.endpoint = %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("a bad DOCKER_HOST is named", func(t *testing.T) {
		t.Parallel()
		_, err := loadWith(t, with(mainEnv(), "DOCKER_HOST", "ssh://me@docker"), "")
		wantProblem(t, problemsOf(t, err), "LABELGATE_DOCKER_ENDPOINT", "docker.endpoint", "DOCKER_HOST", "unix://", "tcp://")
	})
}

func TestConfigFileLocation(t *testing.T) {
	t.Parallel()

	t.Run("explicit file must exist", func(t *testing.T) {
		t.Parallel()
		missing := filepath.Join(t.TempDir(), "nope.yaml")
		_, err := Load(Source{Env: with(mainEnv(), FileEnv, missing), DefaultFile: filepath.Join(t.TempDir(), "absent.yaml")})
		wantProblem(t, problemsOf(t, err), FileEnv, "", "cannot read the configuration file", "nope.yaml")
	})

	t.Run("default file is read when present", func(t *testing.T) {
		t.Parallel()
		p := tempFile(t, "labelgate.yaml", "log_level: warn\n")
		cfg, err := Load(Source{Env: mainEnv(), DefaultFile: p})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if cfg.LogLevel != "warn" {
			t.Errorf("log_level = %q, want warn from the default file", cfg.LogLevel)
		}
	})

	t.Run("missing default file is fine", func(t *testing.T) {
		t.Parallel()
		if _, err := Load(Source{Env: mainEnv(), DefaultFile: filepath.Join(t.TempDir(), "absent.yaml")}); err != nil {
			t.Errorf("Load: %v", err)
		}
	})

	t.Run("empty file is fine", func(t *testing.T) {
		t.Parallel()
		mustLoad(t, mainEnv(), "# nothing here\n")
	})

	t.Run("JSON file", func(t *testing.T) {
		t.Parallel()
		cfg := mustLoad(t, mainEnv(), `{"sync": {"interval": "2h"}}`)
		if cfg.Sync.Interval != 2*time.Hour {
			t.Errorf("sync.interval = %v, want 2h", cfg.Sync.Interval)
		}
	})
}

func TestFileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		file      string
		env, key  string
		line      int
		fragments []string
	}{
		{
			name:      "unknown top-level key",
			file:      "mode: main\nlog_lvl: debug\n",
			key:       "log_lvl",
			line:      2,
			fragments: []string{`unknown key "log_lvl"`, "log_level"},
		},
		{
			name:      "unknown nested key",
			file:      "docker:\n  endpoint: unix:///var/run/docker.sock\n  pol_interval: 1m\n",
			key:       "docker.pol_interval",
			line:      3,
			fragments: []string{`unknown key "pol_interval"`, "poll_interval"},
		},
		{
			name:      "unknown key in a map entry",
			file:      "agent:\n  agents:\n    Host-1:\n      tokn: x\n",
			env:       "LABELGATE_AGENT_AGENTS",
			key:       "agent.agents.Host-1.tokn",
			line:      4,
			fragments: []string{`unknown key "tokn"`, "token_file", "connect_to"},
		},
		{
			name:      "the former agent scope key",
			file:      "agent:\n  agents:\n    h:\n      scope:\n        hostnames: [a.example.com]\n",
			env:       "LABELGATE_AGENT_AGENTS",
			key:       "agent.agents.h.scope",
			line:      4,
			fragments: []string{`unknown key "scope"`, "allowed_hostnames", "allowed_tunnels"},
		},
		{
			name:      "the former sync.dry_run",
			file:      "sync:\n  dry_run: true\n",
			key:       "sync.dry_run",
			line:      2,
			fragments: []string{`unknown key "dry_run"`},
		},
		{
			name:      "the former sync.orphan_ttl",
			file:      "sync:\n  orphan_ttl: 0s\n",
			key:       "sync.orphan_ttl",
			line:      2,
			fragments: []string{`unknown key "orphan_ttl"`},
		},
		{
			name:      "allowed_hostnames is a list",
			file:      "agent:\n  agents:\n    h:\n      allowed_hostnames: a.example.com\n",
			env:       "LABELGATE_AGENT_AGENTS",
			key:       "agent.agents.h.allowed_hostnames",
			line:      4,
			fragments: []string{"list"},
		},
		{
			name:      "duration without a unit",
			file:      "sync:\n  remove_delay: 0\n",
			env:       "LABELGATE_SYNC_REMOVE_DELAY",
			key:       "sync.remove_delay",
			line:      2,
			fragments: []string{"unit", "0s"},
		},
		{
			name:      "not a duration",
			file:      "docker:\n  poll_interval: 5 minutes\n",
			env:       "LABELGATE_DOCKER_POLL_INTERVAL",
			key:       "docker.poll_interval",
			line:      2,
			fragments: []string{`"5 minutes"`, "30s"},
		},
		{
			name:      "not a bool",
			file:      "api:\n  enabled: maybe\n",
			env:       "LABELGATE_API_ENABLED",
			key:       "api.enabled",
			line:      2,
			fragments: []string{"true or false"},
		},
		{
			name:      "list where a value belongs",
			file:      "db:\n  path: [a, b]\n",
			env:       "LABELGATE_DB_PATH",
			key:       "db.path",
			line:      2,
			fragments: []string{"a list", "single value"},
		},
		{
			name:      "value where a list belongs",
			file:      "cloudflare:\n  credentials:\n    cf:\n      api_token: x\n      zones: example.com\n",
			env:       "LABELGATE_CLOUDFLARE_CREDENTIALS",
			key:       "cloudflare.credentials.cf.zones",
			line:      5,
			fragments: []string{"list"},
		},
		{
			name:      "duplicate key",
			file:      "log_level: info\nlog_level: debug\n",
			env:       "LABELGATE_LOG_LEVEL",
			key:       "log_level",
			line:      2,
			fragments: []string{"twice", "line 1"},
		},
		{
			name:      "syntax error",
			file:      "mode: main\nlog_level: info\n  oops: 3\n",
			line:      3,
			fragments: []string{"not valid YAML"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadWith(t, mainEnv(), tt.file)
			ps := problemsOf(t, err)
			wantProblem(t, ps, tt.env, tt.key, tt.fragments...)
			for _, p := range ps {
				if p.Key == tt.key && p.Env == tt.env {
					if p.Line != tt.line {
						t.Errorf("line = %d, want %d (%s)", p.Line, tt.line, p)
					}
					if !strings.HasSuffix(p.File, "labelgate.yaml") {
						t.Errorf("file = %q, want the config file", p.File)
					}
				}
			}
		})
	}
}

func TestFileErrorsDoNotStopOtherChecks(t *testing.T) {
	t.Parallel()
	file := "docker:\n  pol_interval: 1m\nsync:\n  interval: soon\n"
	_, err := loadWith(t, map[string]string{"LABELGATE_LOG_LEVEL": "loud"}, file)
	ps := problemsOf(t, err)
	wantProblem(t, ps, "", "docker.pol_interval", "unknown key")
	wantProblem(t, ps, "LABELGATE_SYNC_INTERVAL", "sync.interval", "duration")
	wantProblem(t, ps, "LABELGATE_LOG_LEVEL", "log_level", `"loud"`)
	wantProblem(t, ps, "LABELGATE_CLOUDFLARE_API_TOKEN", "cloudflare.api_token", "token")
}

func TestEnvParseErrors(t *testing.T) {
	t.Parallel()
	environ := with(mainEnv(),
		"LABELGATE_DOCKER_POLL_INTERVAL", "5 minutes",
		"LABELGATE_CLOUDFLARE_BURST", "lots",
		"LABELGATE_API_ENABLED", "perhaps",
		"LABELGATE_CLOUDFLARE_REQUESTS_PER_SECOND", "fast",
		"LABELGATE_AGENT_HEARTBEAT_INTERVAL", "15",
		"LABELGATE_CONNECT_HEARTBEAT_INTERVAL", "x",
		"LABELGATE_CONNECT_TLS_INSECURE", "sure",
	)
	_, err := loadWith(t, environ, "")
	ps := problemsOf(t, err)
	wantProblem(t, ps, "LABELGATE_DOCKER_POLL_INTERVAL", "docker.poll_interval", `"5 minutes"`, "duration")
	wantProblem(t, ps, "LABELGATE_CLOUDFLARE_BURST", "cloudflare.burst", "whole number")
	wantProblem(t, ps, "LABELGATE_API_ENABLED", "api.enabled", "true or false")
	wantProblem(t, ps, "LABELGATE_CLOUDFLARE_REQUESTS_PER_SECOND", "cloudflare.requests_per_second", "number")
	// Two fields share the Go name HeartbeatInterval; each must be told apart.
	wantProblem(t, ps, "LABELGATE_AGENT_HEARTBEAT_INTERVAL", "agent.heartbeat_interval", "duration")
	wantProblem(t, ps, "LABELGATE_CONNECT_HEARTBEAT_INTERVAL", "connect.heartbeat_interval", "duration")
	wantProblem(t, ps, "LABELGATE_CONNECT_TLS_INSECURE", "connect.tls.insecure", "true or false")
	if len(ps) != 7 {
		t.Errorf("want 7 problems, got %d:\n%s", len(ps), render(ps))
	}
}

func TestErrorText(t *testing.T) {
	t.Parallel()
	_, err := loadWith(t, with(mainEnv(), "LABELGATE_MODE", "mian", "LABELGATE_LOG_FORMAT", "xml"), "")
	got := err.Error()
	for _, want := range []string{
		"invalid configuration: 2 problems:",
		`mode (LABELGATE_MODE): "mian" is not a mode; want main or agent`,
		`log_format (LABELGATE_LOG_FORMAT): "xml" is not a log format; want text or json`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("error text lacks %q:\n%s", want, got)
		}
	}
}
