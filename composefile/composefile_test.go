package composefile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseLabelForms(t *testing.T) {
	t.Parallel()
	src := `
x-common: &common
  labelgate.tunnel.default.tunnel: edge
services:
  web:
    image: nginx
    labels:
      <<: *common
      labelgate.tunnel.web.hostname: "${HOST:-www}.example.com"
      labelgate.dns.x.priority: 10
      labelgate.dns.x.proxied: false
      empty:
  api:
    labels:
      - labelgate.tunnel.api.hostname=api.$DOMAIN
      - labelgate.tunnel.api.service=http://api:8080
      - price=$$5
      - bare
  db:
    image: postgres
  swarm:
    image: whoami
    deploy:
      replicas: 2
      labels:
        - labelgate.tunnel.s.hostname=s.$DOMAIN
        - labelgate.tunnel.s.service=http://swarm:80
`
	got, err := Parse([]byte(src), map[string]string{"DOMAIN": "example.org"})
	if err != nil {
		t.Fatal(err)
	}
	want := File{Services: []Service{
		{Name: "api", Labels: map[string]string{
			"labelgate.tunnel.api.hostname": "api.example.org",
			"labelgate.tunnel.api.service":  "http://api:8080",
			"price":                         "$5",
			"bare":                          "",
		}, DeployLabels: map[string]string{}},
		{Name: "db", Labels: map[string]string{}, DeployLabels: map[string]string{}},
		{Name: "swarm", Labels: map[string]string{}, DeployLabels: map[string]string{
			"labelgate.tunnel.s.hostname": "s.example.org",
			"labelgate.tunnel.s.service":  "http://swarm:80",
		}},
		{Name: "web", Labels: map[string]string{
			"labelgate.tunnel.default.tunnel": "edge",
			"labelgate.tunnel.web.hostname":   "www.example.com",
			"labelgate.dns.x.priority":        "10",
			"labelgate.dns.x.proxied":         "false",
			"empty":                           "",
		}, DeployLabels: map[string]string{}},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestInterpolation(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"SET": "v", "EMPTY": ""}
	tests := []struct {
		in, want, warn, err string
	}{
		{in: "plain", want: "plain"},
		{in: "$SET-${SET}", want: "v-v"},
		{in: "${UNSET:-d}|${EMPTY:-d}|${SET:-d}", want: "d|d|v"},
		{in: "${UNSET-d}|${EMPTY-d}", want: "d|"},
		{in: "${SET:+alt}|${EMPTY:+alt}|${EMPTY+alt}|${UNSET+alt}", want: "alt||alt|"},
		{in: "${UNSET:-${SET}x}", want: "vx"},
		{in: "$$SET", want: "$SET"},
		{in: "cost $", want: "cost $"},
		{in: "${UNSET}", want: "", warn: "UNSET"},
		{in: "${EMPTY:?must be set}", err: "EMPTY is missing a value: must be set"},
		{in: "${UNSET?needed}", err: "UNSET is missing a value: needed"},
		{in: "${EMPTY?needed}", want: ""},
		{in: "${oops", err: "unclosed"},
		{in: "${1X}", err: "invalid interpolation"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			in := &interpolator{vars: vars}
			got, err := in.expand(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("expand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			if tc.warn != "" && (len(in.warnings) != 1 || !strings.Contains(in.warnings[0], tc.warn)) {
				t.Fatalf("warnings = %q, want one naming %s", in.warnings, tc.warn)
			}
			if tc.warn == "" && len(in.warnings) != 0 {
				t.Fatalf("unexpected warnings %q", in.warnings)
			}
		})
	}
}

func TestLoadReadsDotEnvAndEnvWins(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(".env", "# settings\nDOMAIN=from-dotenv.example\nexport SUB='app'\n")
	write("compose.yaml", "services:\n  s:\n    labels:\n      a: ${SUB}.${DOMAIN}\n")
	f, err := Load(filepath.Join(dir, "compose.yaml"), map[string]string{"DOMAIN": "from-env.example"})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Services[0].Labels["a"]; got != "app.from-env.example" {
		t.Fatalf("label = %q, want app.from-env.example", got)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"not yaml":       "services: [\n",
		"no services":    "version: '3'\n",
		"labels scalar":  "services:\n  s:\n    labels: hello\n",
		"required unset": "services:\n  s:\n    labels:\n      a: ${NEED:?set NEED}\n",
	}
	for name, src := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(src), nil); err == nil {
				t.Fatal("expected an error")
			}
		})
	}
}
