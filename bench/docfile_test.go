package bench

import "testing"

func TestReplaceSections(t *testing.T) {
	t.Parallel()
	doc := "# Benchmarks\n\nIntro.\n\n## End-to-end scenarios\n\ntheirs\n\n## Latency\n\nold\n```\n## not a heading\n```\nstill old\n\n## Image\n\ntheirs too\n"
	tests := []struct {
		name string
		doc  string
		secs []Section
		want string
	}{
		{"replace in place, keep the others", doc, []Section{{"Latency", "new"}},
			"# Benchmarks\n\nIntro.\n\n## End-to-end scenarios\n\ntheirs\n\n## Latency\n\nnew\n\n## Image\n\ntheirs too\n"},
		{"append what is missing", "# Benchmarks\n\nIntro.\n", []Section{{"API calls", "a"}, {"Latency", "b"}},
			"# Benchmarks\n\nIntro.\n\n## API calls\n\na\n\n## Latency\n\nb\n"},
		{"add what is missing before the hand-written findings",
			"# Benchmarks\n\n## Image\n\n```\n## Findings\n```\n\n## Latency\n\nold\n\n## Findings\n\nmine\n",
			[]Section{{"Latency", "new"}, {"Hostile agents", "h"}},
			"# Benchmarks\n\n## Image\n\n```\n## Findings\n```\n\n## Latency\n\nnew\n\n## Hostile agents\n\nh\n\n## Findings\n\nmine\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := replaceSections(tt.doc, tt.secs); got != tt.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}
