package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/caarlos0/env/v11"
	"go.yaml.in/yaml/v3"

	"github.com/labelgate/labelgate/composefile"
	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/labels"
)

// The compose files under deploy/compose are what users copy. This test
// needs no Docker: it reads each file as Compose would and checks
//
//   - the labels of every service with `labelgate check` semantics
//     (composefile.Load + labels.Parse, the code `check` runs), the
//     configured filter label ignored as main ignores it;
//   - that every LABELGATE_* variable a labelgate service sets (list or map
//     form, or passed through from the host) is a setting;
//   - that each labelgate service's whole configuration loads: its
//     environment plus the inline `configs:` file mounted at
//     /etc/labelgate/labelgate.yaml, through config.Load — whose file
//     decoder refuses unknown keys (agent:, connect:, …) by name;
//   - in a file that holds main and agents (the demo), that they can find
//     each other: tokens match, endpoints name services of the file, and
//     every labelled workload is watched by exactly one labelgate instance.
//
// Which variables exist is asked of the configuration itself, not of
// docs/configuration.md: env.GetFieldParamsWithOptions lists the variables
// of config.Config through the same struct tags and the same library
// (caarlos0/env) that config.Load reads them with, so the list cannot drift
// from what the loader reads; config's own docs test keeps the table in the
// documentation equal to the struct. config.Load alone would not do: like
// any environment reader it ignores variables it does not know, so a
// misspelt LABELGATE_AGENT_LISTN would pass silently.

const composeDir = "../deploy/compose"

// knownVariables lists every LABELGATE_* variable the configuration reads.
func knownVariables(t *testing.T) map[string]bool {
	t.Helper()
	params, err := env.GetFieldParamsWithOptions(&config.Config{}, env.Options{Prefix: config.EnvPrefix})
	if err != nil {
		t.Fatalf("listing the configuration's variables: %v", err)
	}
	known := map[string]bool{config.FileEnv: true}
	for _, p := range params {
		known[p.Key] = true
	}
	// Spot-check that the reflection sees nested sections and maps.
	for _, v := range []string{"LABELGATE_MODE", "LABELGATE_AGENT_AGENTS", "LABELGATE_CONNECT_TLS_CA", "LABELGATE_SYNC_REMOVE_DELAY"} {
		if !known[v] {
			t.Fatalf("the list of variables misses %s; the reflection over config.Config is broken", v)
		}
	}
	return known
}

// composeService is the part of a compose service this test reads.
type composeService struct {
	Image       string    `yaml:"image"`
	Command     yaml.Node `yaml:"command"`
	Environment yaml.Node `yaml:"environment"`
	Configs     []struct {
		Source string `yaml:"source"`
		Target string `yaml:"target"`
	} `yaml:"configs"`
}

type composeDoc struct {
	Services map[string]composeService `yaml:"services"`
	Configs  map[string]struct {
		Content string `yaml:"content"`
		File    string `yaml:"file"`
	} `yaml:"configs"`
}

// instance is a labelgate service of a compose file, its environment and
// configuration interpolated as Compose would.
type instance struct {
	service string
	env     map[string]string
	file    string // inline config content mounted as the config file, if any
	cfg     config.Config
}

var varRef = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// hostValues gives every variable the file takes from the host without a
// default a value, as the user is told to set them: tokens get distinct
// 40-character values, ids the right shape.
func hostValues(data string) map[string]string {
	vars := map[string]string{}
	for _, m := range varRef.FindAllStringSubmatch(data, -1) {
		name, op := m[1]+m[3], m[2]
		if name == "" || strings.HasPrefix(op, ":-") || strings.HasPrefix(op, "-") {
			continue
		}
		vars[name] = hostValue(name)
	}
	return vars
}

func hostValue(name string) string {
	sum := sha256.Sum256([]byte(name))
	h := hex.EncodeToString(sum[:])
	switch {
	case strings.HasSuffix(name, "ACCOUNT_ID"):
		return h[:32]
	case strings.HasSuffix(name, "TUNNEL_ID"):
		return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-8" + h[17:20] + "-" + h[20:32]
	case strings.HasSuffix(name, "GID"):
		return "999"
	}
	return h[:40]
}

// interpolate applies Compose's variable substitution to values, through
// composefile (the code `labelgate check` uses): the values are read as the
// labels of a synthetic service.
func interpolate(t *testing.T, vars map[string]string, values map[string]string) map[string]string {
	t.Helper()
	doc, err := yaml.Marshal(map[string]any{"services": map[string]any{"x": map[string]any{"labels": values}}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := composefile.Parse(doc, vars)
	if err != nil {
		t.Fatalf("interpolating: %v", err)
	}
	if len(f.Warnings) > 0 {
		t.Errorf("interpolation warnings: %v", f.Warnings)
	}
	return f.Services[0].Labels
}

// environment reads `environment:` in list or map form. A name without a
// value is passed through from the host (value from vars, or a host value).
func environment(t *testing.T, n yaml.Node, vars map[string]string) map[string]string {
	t.Helper()
	raw := map[string]string{}
	passthrough := func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		return hostValue(k)
	}
	switch n.Kind {
	case 0:
	case yaml.SequenceNode:
		var list []string
		if err := n.Decode(&list); err != nil {
			t.Fatalf("environment (line %d): %v", n.Line, err)
		}
		for _, item := range list {
			k, v, ok := strings.Cut(item, "=")
			if !ok {
				v = passthrough(k)
			}
			raw[k] = v
		}
	case yaml.MappingNode:
		var m map[string]*string
		if err := n.Decode(&m); err != nil {
			t.Fatalf("environment (line %d): %v", n.Line, err)
		}
		for k, v := range m {
			if v == nil {
				raw[k] = passthrough(k)
			} else {
				raw[k] = *v
			}
		}
	default:
		t.Fatalf("environment (line %d) is neither a list nor a map", n.Line)
	}
	return interpolate(t, vars, raw)
}

// isLabelgate reports whether a service runs main or an agent (not cfsim,
// not a `labelgate hello` workload).
func isLabelgate(s composeService) bool {
	if !strings.HasPrefix(s.Image, "labelgate:") && !strings.HasPrefix(s.Image, "${LABELGATE_IMAGE") {
		return false
	}
	var cmd []string
	switch s.Command.Kind {
	case yaml.ScalarNode:
		cmd = strings.Fields(s.Command.Value)
	case yaml.SequenceNode:
		_ = s.Command.Decode(&cmd)
	}
	return len(cmd) == 0 || cmd[0] == "run"
}

func composeFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(composeDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ext := filepath.Ext(p); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("listing %s: %v", composeDir, err)
	}
	return files
}

func TestComposeFiles(t *testing.T) {
	t.Parallel()
	known := knownVariables(t)
	checked := map[string]bool{}
	for _, path := range composeFiles(t) {
		rel, _ := filepath.Rel(composeDir, path)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var doc composeDoc
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		if doc.Services == nil {
			continue // not a compose file (cfsim's seed for the demo)
		}
		checked[filepath.ToSlash(rel)] = true
		t.Run(rel, func(t *testing.T) {
			t.Parallel()
			checkComposeFile(t, path, string(data), doc, known)
		})
	}
	for _, want := range []string{"single-host.yaml", "demo.yaml", "example.yaml",
		"multi-host-outbound/main.yaml", "multi-host-outbound/agent.yaml", "multi-host-inbound/main.yaml", "multi-host-inbound/agent.yaml", "swarm/stack.yaml"} {
		if !checked[want] {
			t.Errorf("deploy/compose/%s is missing", want)
		}
	}
}

func checkComposeFile(t *testing.T, path, data string, doc composeDoc, known map[string]bool) {
	vars := hostValues(data)

	// The labelgate instances: variables, then the whole configuration.
	var insts []instance
	for _, name := range slices.Sorted(maps.Keys(doc.Services)) {
		svc := doc.Services[name]
		if !isLabelgate(svc) {
			continue
		}
		in := instance{service: name, env: environment(t, svc.Environment, vars)}
		for _, k := range slices.Sorted(maps.Keys(in.env)) {
			if strings.HasPrefix(k, config.EnvPrefix) && !known[k] {
				t.Errorf("service %s sets %s, which is not a setting (docs/configuration.md lists them)", name, k)
			}
		}
		target := cmpOr(in.env[config.FileEnv], config.DefaultFile)
		for _, c := range svc.Configs {
			def, ok := doc.Configs[c.Source]
			switch {
			case !ok:
				t.Errorf("service %s mounts config %q, which the file does not define", name, c.Source)
			case c.Target == target && def.Content != "":
				in.file = interpolate(t, vars, map[string]string{"content": def.Content})["content"]
			}
		}
		environ := maps.Clone(in.env)
		delete(environ, config.FileEnv)
		cfgPath := filepath.Join(t.TempDir(), "labelgate.yaml")
		if in.file != "" {
			if err := os.WriteFile(cfgPath, []byte(in.file), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		cfg, err := config.Load(config.Source{Env: environ, DefaultFile: cfgPath})
		if err != nil {
			var verr *config.ValidationError
			if errors.As(err, &verr) {
				for _, p := range verr.Problems {
					t.Errorf("service %s: %s", name, p.String())
				}
			} else {
				t.Errorf("service %s: %v", name, err)
			}
		}
		in.cfg = cfg // on error, what could be loaded: enough for the checks below
		insts = append(insts, in)
	}

	// Labels, as `labelgate check` and main read them.
	opts := labels.Options{Prefix: labels.DefaultPrefix}
	var filters []string
	for _, in := range insts {
		if in.cfg.LabelPrefix != "" {
			opts.Prefix = in.cfg.LabelPrefix
		}
		if fl := in.cfg.Docker.FilterLabel; fl != "" {
			filters = append(filters, fl)
			key, _, _ := strings.Cut(fl, "=")
			opts.Ignore = append(opts.Ignore, key)
		}
	}
	f, err := composefile.Load(path, vars)
	if err != nil {
		t.Fatalf("composefile.Load: %v", err)
	}
	if len(f.Warnings) > 0 {
		t.Errorf("warnings: %v", f.Warnings)
	}
	// A stack's deploy.labels are the Swarm service's own labels: a
	// claimant of their own, filtered like a container's.
	var claimants []composefile.Service
	for _, s := range f.Services {
		claimants = append(claimants, s)
		if len(s.DeployLabels) > 0 {
			claimants = append(claimants, composefile.Service{Name: s.Name + " (deploy.labels)", Labels: s.DeployLabels})
		}
	}
	for _, s := range claimants {
		res := labels.Parse(s.Labels, opts)
		for _, e := range res.Errors {
			t.Errorf("service %s: %s: %s", s.Name, e.Key, e.Message)
		}
		if res.Empty() {
			continue
		}
		// With filter labels, each labelled workload must be seen by
		// exactly one labelgate instance, or its routes would never appear
		// (or appear as a conflict with itself).
		if len(filters) > 0 {
			var by []string
			for _, in := range insts {
				if matchesFilter(in.cfg.Docker.FilterLabel, s.Labels) {
					by = append(by, in.service)
				}
			}
			if len(by) != 1 {
				t.Errorf("service %s is watched by %d labelgate instances %v; want exactly one (filters %v)", s.Name, len(by), by, filters)
			}
		}
	}
	checkWiring(t, doc, insts)
}

// matchesFilter applies a docker.filter_label ("key" or "key=value").
func matchesFilter(filter string, lbls map[string]string) bool {
	if filter == "" {
		return true
	}
	k, v, hasValue := strings.Cut(filter, "=")
	got, ok := lbls[k]
	return ok && (!hasValue || got == v)
}

// checkWiring checks, in a file that holds main and agents, that each agent
// can reach main and log in: its token is one main knows, an outbound
// agent's endpoint is main's listener, an inbound agent is dialled at a
// service of the file.
func checkWiring(t *testing.T, doc composeDoc, insts []instance) {
	var main *instance
	var agents []instance
	for i, in := range insts {
		if in.cfg.Mode == config.ModeAgent {
			agents = append(agents, in)
		} else {
			main = &insts[i]
		}
	}
	if main == nil || len(agents) == 0 {
		return // one side only: the other lives on another host
	}
	byToken := map[string]string{}
	for name, a := range main.cfg.Agent.Agents {
		byToken[a.Token.Reveal()] = name
	}
	for _, a := range agents {
		name, ok := byToken[a.cfg.Connect.Token.Reveal()]
		if !ok {
			t.Errorf("agent service %s: main knows no agent with its token", a.service)
			continue
		}
		entry := main.cfg.Agent.Agents[name]
		switch a.cfg.Connect.Mode {
		case config.ConnectOutbound:
			if entry.Inbound() {
				t.Errorf("agent service %s dials main, but main's entry %s has connect_to %s", a.service, name, entry.ConnectTo)
			}
			u, err := url.Parse(a.cfg.Connect.Endpoint)
			if err != nil || u.Hostname() != main.service || !main.cfg.Agent.Enabled || !strings.HasSuffix(main.cfg.Agent.Listen, ":"+u.Port()) {
				t.Errorf("agent service %s dials %s; main is service %s listening on %s (enabled %v)", a.service, a.cfg.Connect.Endpoint, main.service, main.cfg.Agent.Listen, main.cfg.Agent.Enabled)
			}
		case config.ConnectInbound:
			u, err := url.Parse(entry.ConnectTo)
			if err != nil || u.Hostname() != a.service || !strings.HasSuffix(a.cfg.Connect.Listen, ":"+u.Port()) {
				t.Errorf("main dials agent %s at %q; the agent is service %s listening on %s", name, entry.ConnectTo, a.service, a.cfg.Connect.Listen)
			}
		}
	}
	if _, ok := doc.Services[main.service]; !ok {
		t.Errorf("main %s is not a service", main.service)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
