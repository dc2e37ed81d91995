package dockerwatch

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want []string // fragments of the error; none means valid
	}{
		{name: "zero value", cfg: Config{}},
		{name: "unix", cfg: Config{Endpoint: "unix:///run/docker.sock", FilterLabel: "labelgate.enable=true"}},
		{name: "tcp with TLS", cfg: Config{Endpoint: "tcp://docker:2376", TLSCA: "ca.pem", TLSCert: "cert.pem", TLSKey: "key.pem"}},
		{name: "tcp with CA only", cfg: Config{Endpoint: "tcp://docker:2376", TLSCA: "ca.pem"}},
		{name: "filter key only", cfg: Config{FilterLabel: "com.example.expose"}},
		{name: "not a URL", cfg: Config{Endpoint: "/var/run/docker.sock"}, want: []string{"not a URL", "unix://"}},
		{name: "ssh", cfg: Config{Endpoint: "ssh://me@host"}, want: []string{"ssh://", "want unix:// or tcp://"}},
		{name: "TLS on unix", cfg: Config{Endpoint: "unix:///var/run/docker.sock", TLSCA: "ca.pem"}, want: []string{"only used with a tcp:// endpoint"}},
		{name: "TLS on default endpoint", cfg: Config{TLSCA: "ca.pem"}, want: []string{"only used with a tcp:// endpoint"}},
		{name: "cert without key", cfg: Config{Endpoint: "tcp://d:2376", TLSCert: "cert.pem"}, want: []string{"set both or neither"}},
		{name: "empty filter key", cfg: Config{FilterLabel: "=true"}, want: []string{"want key or key=value"}},
		{name: "spaced filter key", cfg: Config{FilterLabel: " a=b"}, want: []string{"want key or key=value"}},
		{name: "bad prefix", cfg: Config{LabelPrefix: "a=b"}, want: []string{"label prefix"}},
		{name: "negative poll", cfg: Config{PollInterval: -time.Second}, want: []string{"poll interval is -1s"}},
		{name: "negative debounce", cfg: Config{Debounce: -1}, want: []string{"debounce"}},
		{name: "jitter above 1", cfg: Config{Backoff: BackoffConfig{Jitter: 1.5}}, want: []string{"jitter"}},
		{name: "max below initial", cfg: Config{Backoff: BackoffConfig{Initial: time.Minute, Max: time.Second}}, want: []string{"below the initial wait"}},
		{name: "swarm modes", cfg: Config{Swarm: SwarmOn}},
		{name: "swarm off", cfg: Config{Swarm: SwarmOff}},
		{name: "bad swarm mode", cfg: Config{Swarm: "yes"}, want: []string{`swarm mode "yes"`, "auto, true or false"}},
		{name: "all reported", cfg: Config{Endpoint: "ssh://x", Debounce: -1}, want: []string{"ssh://", "debounce"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error mentioning %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	got := Config{}.withDefaults()
	want := Config{
		Endpoint:     DefaultEndpoint,
		LabelPrefix:  DefaultLabelPrefix,
		Swarm:        SwarmAuto,
		Source:       "local",
		PollInterval: DefaultPollInterval,
		Debounce:     DefaultDebounce,
		Backoff:      BackoffConfig{Initial: DefaultBackoffInitial, Max: DefaultBackoffMax, Jitter: DefaultBackoffJitter},
	}
	if got != want {
		t.Errorf("defaults = %+v, want %+v", got, want)
	}
	// An initial wait above the default cap raises the cap with it.
	if b := (Config{Backoff: BackoffConfig{Initial: time.Minute}}).withDefaults().Backoff; b.Max != time.Minute {
		t.Errorf("Max = %v with Initial 1m, want 1m", b.Max)
	}
}

func TestNewClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "default endpoint", cfg: Config{}},
		{name: "unix", cfg: Config{Endpoint: "unix:///tmp/nowhere.sock"}},
		{name: "plain tcp", cfg: Config{Endpoint: "tcp://127.0.0.1:2375"}},
		{name: "invalid config", cfg: Config{Endpoint: "ssh://x"}, wantErr: "ssh://"},
		{name: "missing TLS files", cfg: Config{Endpoint: "tcp://127.0.0.1:2376", TLSCA: "/nonexistent/ca.pem"}, wantErr: "creating the Docker client for tcp://127.0.0.1:2376"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := NewClient(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewClient() error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewClient() = %v", err)
			}
			if err := c.Close(); err != nil {
				t.Errorf("Close() = %v", err)
			}
		})
	}
}
