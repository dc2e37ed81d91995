package labels

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestGoldenCoversEveryProperty fails when a property, origin key or Access
// selector the parser knows is not set by any golden file, so a property
// cannot land without a reviewed example.
func TestGoldenCoversEveryProperty(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txt")
	var inputs strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		in, _, _ := strings.Cut(string(b), "\n----\n")
		inputs.WriteString(in + "\n")
	}
	text := inputs.String()

	const svc = `[a-z0-9-]+`
	var patterns []string
	for _, p := range strings.Split(dnsAllowed, ", ") {
		patterns = append(patterns, `labelgate\.dns\.`+svc+`\.`+regexp.QuoteMeta(p))
	}
	for _, p := range []string{"hostname", "service", "tunnel", "path", "access", "cleanup", "credential"} {
		patterns = append(patterns, `labelgate\.tunnel\.`+svc+`\.`+p)
	}
	origin := slices.Sorted(maps.Keys(originKeys))
	origin = append(origin, "ip_rules", "access.required", "access.team_name", "access.aud_tag")
	for _, k := range origin {
		patterns = append(patterns, `labelgate\.tunnel\.`+svc+`\.origin\.`+regexp.QuoteMeta(k))
	}
	for _, p := range []string{"app_name", "session_duration", "policy.decision", "policy.name"} {
		patterns = append(patterns, `labelgate\.access\.`+svc+`\.`+regexp.QuoteMeta(p))
	}
	for _, g := range []string{"include", "require", "exclude"} {
		patterns = append(patterns, `labelgate\.access\.`+svc+`\.policy\.`+g+`\.[a-z_]+`)
	}
	for _, sel := range slices.Sorted(maps.Keys(selectorCheck)) {
		patterns = append(patterns, `labelgate\.access\.`+svc+`\.policy\.(include|require|exclude)\.`+sel)
	}
	for _, kind := range slices.Sorted(maps.Keys(defaultable)) {
		for _, p := range slices.Sorted(maps.Keys(defaultable[kind])) {
			patterns = append(patterns, `labelgate\.`+kind+`\.default\.`+p)
		}
	}
	patterns = append(patterns, `labelgate\.tunnel\.default\.origin\.[a-z_.]+`)

	for _, p := range patterns {
		if !regexp.MustCompile(`(?m)^` + p + `=`).MatchString(text) {
			t.Errorf("no golden file sets a label matching %s", p)
		}
	}
}
