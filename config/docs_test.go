package config

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"
)

const docsPath = "../docs/configuration.md"

// docRow is one row of the settings table in docs/configuration.md.
type docRow struct {
	Env, Key, Default string
}

// expectedRows derives the table from the Config struct and Defaults().
func expectedRows() []docRow {
	rows := []docRow{{Env: FileEnv, Key: "—", Default: DefaultFile}}
	d := reflect.ValueOf(Defaults())
	for _, s := range settings() {
		rows = append(rows, docRow{Env: s.Env, Key: s.Key, Default: formatValue(d.FieldByIndex(s.Index))})
	}
	return rows
}

// parseTable reads the rows of the table whose header starts with
// "| Environment variable |".
func parseTable(t *testing.T, doc string) []docRow {
	t.Helper()
	var rows []docRow
	in := false
	for _, line := range strings.Split(doc, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "| Environment variable |") {
			if in || rows != nil {
				t.Fatalf("%s has more than one settings table", docsPath)
			}
			in = true
			continue
		}
		if !in {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			in = false
			continue
		}
		if strings.HasPrefix(line, "|---") || strings.HasPrefix(line, "| ---") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 4 {
			t.Errorf("row has %d cells, want 4: %s", len(cells), line)
			continue
		}
		cell := func(i int) string { return strings.Trim(strings.TrimSpace(cells[i]), "`") }
		rows = append(rows, docRow{Env: cell(0), Key: cell(1), Default: cell(2)})
		if cell(3) == "" {
			t.Errorf("row %s has no meaning", cell(0))
		}
	}
	if rows == nil {
		t.Fatalf("%s has no table starting with \"| Environment variable |\"", docsPath)
	}
	return rows
}

func TestDocsTableMatchesConfig(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatalf("reading %s: %v", docsPath, err)
	}
	got := parseTable(t, string(data))
	want := expectedRows()

	byEnv := func(rows []docRow) map[string]docRow {
		m := map[string]docRow{}
		for _, r := range rows {
			if _, dup := m[r.Env]; dup {
				t.Errorf("%s is listed twice", r.Env)
			}
			m[r.Env] = r
		}
		return m
	}
	gotBy, wantBy := byEnv(got), byEnv(want)
	var problems []string
	for _, w := range want {
		g, ok := gotBy[w.Env]
		switch {
		case !ok:
			problems = append(problems, "missing row: | `"+w.Env+"` | `"+w.Key+"` | `"+w.Default+"` |")
		case g.Key != w.Key:
			problems = append(problems, w.Env+": file key is "+g.Key+", want "+w.Key)
		case g.Default != w.Default:
			problems = append(problems, w.Env+": default is \""+g.Default+"\", want \""+w.Default+"\"")
		}
	}
	for _, g := range got {
		if _, ok := wantBy[g.Env]; !ok {
			problems = append(problems, "extra row (no such setting): "+g.Env)
		}
	}
	if len(problems) > 0 {
		t.Errorf("%s disagrees with the Config struct:\n  %s", docsPath, strings.Join(problems, "\n  "))
	}
}

// Every key of a map entry is documented by its full path
// (agent.agents.<name>.token, …).
func TestDocsDescribeMapEntries(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatalf("reading %s: %v", docsPath, err)
	}
	doc := string(data)
	for _, s := range settings() {
		if s.Type.Kind() != reflect.Map {
			continue
		}
		for _, key := range entryKeys(s.Type.Elem(), s.Key+".<name>") {
			if !strings.Contains(doc, "`"+key+"`") {
				t.Errorf("%s does not describe `%s`", docsPath, key)
			}
		}
	}
}

func entryKeys(t reflect.Type, prefix string) []string {
	if t.Kind() != reflect.Struct {
		// An entry with free keys (access.templates.<name>: the label
		// properties, documented in docs/labels.md) has no fixed keys.
		return nil
	}
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		name := yamlName(f)
		if name == "" {
			continue
		}
		key := prefix + "." + name
		keys = append(keys, key)
		if f.Type.Kind() == reflect.Struct {
			keys = append(keys, entryKeys(f.Type, key)...)
		}
	}
	return keys
}

// The variable of every setting is its file key upper-cased with dots as
// underscores, and it is the name the env library really reads.
func TestEnvNamesFollowTheFileKeys(t *testing.T) {
	t.Parallel()
	params, err := env.GetFieldParamsWithOptions(&Config{}, env.Options{Prefix: EnvPrefix})
	if err != nil {
		t.Fatalf("GetFieldParams: %v", err)
	}
	var libNames []string
	for _, p := range params {
		libNames = append(libNames, p.Key)
	}
	var ours []string
	for _, s := range settings() {
		want := EnvPrefix + strings.ToUpper(strings.ReplaceAll(s.Key, ".", "_"))
		if s.Env != want {
			t.Errorf("%s is read from %s, want %s", s.Key, s.Env, want)
		}
		ours = append(ours, s.Env)
	}
	slices.Sort(libNames)
	slices.Sort(ours)
	if !slices.Equal(libNames, ours) {
		t.Errorf("the env library reads %v\nthe settings list has %v", libNames, ours)
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"30m": "30m", "2m": "2m", "1h": "1h", "24h": "24h", "500ms": "500ms", "0s": "0s",
		"1h30m": "1h30m", "15s": "15s", "1m30s": "1m30s", "1h0m5s": "1h0m5s", "10m": "10m",
	} {
		d, err := time.ParseDuration(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%s) = %q, want %q", in, got, want)
		}
	}
}
