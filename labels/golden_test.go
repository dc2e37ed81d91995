package labels

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files from the parser's current output")

// goldenSeparator splits a case file into its input and the expected result.
const goldenSeparator = "----"

// TestGolden runs every testdata/*.txt case: labels (KEY=VALUE lines, a
// value may be a Go-quoted string), optional directives `@prefix <p>` and
// `@ignore <key>`, lines starting with # are comments, then a `----` line
// and the expected Result as indented JSON.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files found: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			input, want, found := strings.Cut(string(raw), "\n"+goldenSeparator+"\n")
			if !found && !*update {
				t.Fatalf("%s has no %q line", file, goldenSeparator)
			}
			lbls, opts := parseGoldenInput(t, input)
			got, err := json.MarshalIndent(Parse(lbls, opts), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				out := strings.TrimRight(input, "\n") + "\n" + goldenSeparator + "\n" + string(got) + "\n"
				if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if diff := cmp.Diff(strings.TrimSpace(want), string(got)); diff != "" {
				t.Errorf("%s: result differs (-want +got); run `make golden` if the change is intended:\n%s", file, diff)
			}
		})
	}
}

func parseGoldenInput(t *testing.T, input string) (map[string]string, Options) {
	t.Helper()
	lbls := map[string]string{}
	var opts Options
	sc := bufio.NewScanner(bytes.NewBufferString(input))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "@prefix "):
			opts.Prefix = strings.TrimSpace(strings.TrimPrefix(line, "@prefix "))
		case strings.HasPrefix(line, "@ignore "):
			opts.Ignore = append(opts.Ignore, strings.TrimSpace(strings.TrimPrefix(line, "@ignore ")))
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("line %d: %q is not KEY=VALUE", n, line)
			}
			if strings.HasPrefix(v, `"`) {
				uq, err := strconv.Unquote(v)
				if err != nil {
					t.Fatalf("line %d: bad quoted value: %v", n, err)
				}
				v = uq
			}
			if _, dup := lbls[k]; dup {
				t.Fatalf("line %d: key %q given twice", n, k)
			}
			lbls[k] = v
		}
	}
	return lbls, opts
}
