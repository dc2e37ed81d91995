package labels

// Micro-benchmarks of the label parser (issue 8; figures in
// docs/benchmarks.md, "Micro-benchmarks"). They never fail on timing.
//
//	go test ./labels -run '^$' -bench . -benchmem

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// benchGoldenLabels reads the labels of a golden case (the part above the
// `----` line; directives and comments skipped).
func benchGoldenLabels(b *testing.B, name string) map[string]string {
	b.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name+".txt"))
	if err != nil {
		b.Fatal(err)
	}
	input, _, _ := strings.Cut(string(raw), "\n"+goldenSeparator+"\n")
	out := map[string]string{}
	for _, line := range strings.Split(input, "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "@") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			b.Fatalf("%s: %q is not KEY=VALUE", name, line)
		}
		if strings.HasPrefix(v, `"`) {
			if uq, err := strconv.Unquote(v); err == nil {
				v = uq
			}
		}
		out[k] = v
	}
	return out
}

// BenchmarkParse parses one container's labels: typical shapes from the
// golden cases, plus a container with Docker's own labels around one route
// (compose adds about ten) and a 20-service container.
func BenchmarkParse(b *testing.B) {
	compose := map[string]string{
		"com.docker.compose.project": "shop", "com.docker.compose.service": "web",
		"com.docker.compose.version": "2.29.1", "com.docker.compose.container-number": "1",
		"com.docker.compose.oneoff": "False", "com.docker.compose.config-hash": strings.Repeat("ab", 32),
		"com.docker.compose.project.working_dir": "/srv/shop", "com.docker.compose.depends_on": "",
		"com.docker.compose.image": "sha256:" + strings.Repeat("cd", 32), "org.opencontainers.image.version": "1.2.3",
		"labelgate.tunnel.web.hostname": "shop.example.com", "labelgate.tunnel.web.service": "http://web:8080",
	}
	many := map[string]string{}
	for i := range 20 {
		svc := fmt.Sprintf("s%02d", i)
		many["labelgate.tunnel."+svc+".hostname"] = svc + ".example.com"
		many["labelgate.tunnel."+svc+".service"] = "http://" + svc + ":80"
		many["labelgate.tunnel."+svc+".path"] = "^/api/" + svc
	}
	cases := []struct {
		name   string
		labels map[string]string
	}{
		{"tunnel_docs_basic", benchGoldenLabels(b, "tunnel_docs_basic")},
		{"dns_a", benchGoldenLabels(b, "dns_a")},
		{"access_docs_secure", benchGoldenLabels(b, "access_docs_secure")},
		{"tunnel_origin_all", benchGoldenLabels(b, "tunnel_origin_all")},
		{"compose_one_route", compose},
		{"twenty_routes", many},
	}
	for _, c := range cases {
		b.Run(fmt.Sprintf("%s/labels=%d", c.name, len(c.labels)), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if res := Parse(c.labels, Options{}); res.Empty() && !res.HasErrors() {
					b.Fatal("nothing parsed")
				}
			}
		})
	}
}
