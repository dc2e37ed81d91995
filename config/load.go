package config

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Source says where Load reads the configuration from. The zero value reads
// the process environment and DefaultFile.
type Source struct {
	// Env is the environment to read; nil means the process environment.
	// Tests pass a map so that they can run in parallel.
	Env map[string]string
	// DefaultFile is read when LABELGATE_CONFIG is unset and may be missing;
	// "" means DefaultFile.
	DefaultFile string
}

// Load builds the configuration: Defaults, then the YAML file over them,
// then the environment over both; it then reads the *_file secrets and
// validates the result. Every problem found on the way is reported at once in
// a *ValidationError. On error the returned Config holds what could be
// loaded, for display only; it must not be used to run.
func Load(src Source) (Config, error) {
	environ := src.Env
	if environ == nil {
		environ = env.ToMap(os.Environ())
	}
	defaultFile := src.DefaultFile
	if defaultFile == "" {
		defaultFile = DefaultFile
	}
	l := &loader{env: environ}
	cfg := l.load(defaultFile)
	if len(l.problems) > 0 {
		return cfg, &ValidationError{Problems: l.problems}
	}
	return cfg, nil
}

type loader struct {
	env      map[string]string
	file     string // the file that was read, "" if none
	problems problems
}

func (l *loader) load(defaultFile string) Config {
	cfg := Defaults()
	// DOCKER_HOST replaces the built-in default only: the file and
	// LABELGATE_DOCKER_ENDPOINT still win over it.
	if h := l.env["DOCKER_HOST"]; h != "" {
		cfg.Docker.Endpoint = h
	}
	l.readFile(&cfg, defaultFile)

	fileCreds, fileTunnels, fileAgents, fileTemplates := cfg.Cloudflare.Credentials, cfg.Cloudflare.Tunnels, cfg.Agent.Agents, cfg.Access.Templates
	l.applyEnv(&cfg)
	// A map variable adds entries to the file's map; an entry with the same
	// name replaces the file's entry as a whole.
	if l.set("cloudflare.credentials") {
		cfg.Cloudflare.Credentials = overlay(fileCreds, cfg.Cloudflare.Credentials)
	}
	if l.set("cloudflare.tunnels") {
		cfg.Cloudflare.Tunnels = overlay(fileTunnels, cfg.Cloudflare.Tunnels)
	}
	if l.set("agent.agents") {
		cfg.Agent.Agents = overlay(fileAgents, cfg.Agent.Agents)
	}
	if l.set("access.templates") {
		cfg.Access.Templates = overlay(fileTemplates, cfg.Access.Templates)
	}

	l.chooseSecretSources(&cfg)
	normalize(&cfg)
	l.readSecretFiles(&cfg)
	l.validate(&cfg)
	return cfg
}

// set reports whether the variable of the setting with this key is set to a
// non-empty value.
func (l *loader) set(key string) bool {
	s, ok := settingByKey(key)
	return ok && l.env[s.Env] != ""
}

func (l *loader) readFile(cfg *Config, defaultFile string) {
	path, explicit := l.env[FileEnv], true
	if path == "" {
		path, explicit = defaultFile, false
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return
		}
		l.problems = append(l.problems, Problem{
			Env:     FileEnv,
			Message: fmt.Sprintf("cannot read the configuration file: %v", err),
		})
		return
	}
	l.file = path
	l.problems = append(l.problems, decodeStrict(data, cfg, "", origin{file: path})...)
}

// applyEnv sets every field whose variable is non-empty. A variable that is
// set but empty leaves the file's value or the default in place.
func (l *loader) applyEnv(cfg *Config) {
	// The env library calls OnSet with the variable's name right before it
	// parses the variable's value, one field at a time; the parsers below use
	// it to say which variable a bad value came from.
	var current string
	scalar := func(parse func(string) (any, error), want string) env.ParserFunc {
		return func(v string) (any, error) {
			x, err := parse(v)
			if err != nil {
				s, _ := settingByEnv(current)
				return nil, problemList{{Env: current, Key: s.Key, Message: fmt.Sprintf("%q is not valid; %s", v, want)}}
			}
			return x, nil
		}
	}
	opts := env.Options{
		Prefix:      EnvPrefix,
		Environment: l.env,
		OnSet:       func(name string, _ any, _ bool) { current = name },
		FuncMap: map[reflect.Type]env.ParserFunc{
			durationType: scalar(func(v string) (any, error) {
				return time.ParseDuration(v)
			}, "want a duration such as 30s, 5m or 1h30m"),
			reflect.TypeFor[bool](): scalar(func(v string) (any, error) {
				return parseBool(v)
			}, "want true or false"),
			reflect.TypeFor[int](): scalar(func(v string) (any, error) {
				return strconv.Atoi(v)
			}, "want a whole number"),
			reflect.TypeFor[int64](): scalar(func(v string) (any, error) {
				return strconv.ParseInt(v, 10, 64)
			}, "want a whole number"),
			reflect.TypeFor[float64](): scalar(func(v string) (any, error) {
				return strconv.ParseFloat(v, 64)
			}, "want a number"),
			reflect.TypeFor[map[string]Credential]():        mapParser[Credential](&current),
			reflect.TypeFor[map[string]Tunnel]():            mapParser[Tunnel](&current),
			reflect.TypeFor[map[string]AgentEntry]():        mapParser[AgentEntry](&current),
			reflect.TypeFor[map[string]map[string]string](): mapParser[map[string]string](&current),
		},
	}
	err := env.ParseWithOptions(cfg, opts)
	if err == nil {
		return
	}
	errs := []error{err}
	var agg env.AggregateError
	if errors.As(err, &agg) {
		errs = agg.Errors
	}
	for _, e := range errs {
		var pe env.ParseError
		var pl problemList
		if errors.As(e, &pe) && errors.As(pe.Err, &pl) {
			l.problems = append(l.problems, pl...)
			continue
		}
		l.problems = append(l.problems, Problem{Message: e.Error()})
	}
}

// mapParser decodes a map variable with the same strict decoder as the file.
func mapParser[T any](current *string) env.ParserFunc {
	return func(v string) (any, error) {
		s, _ := settingByEnv(*current)
		var m map[string]T
		if ps := decodeStrict([]byte(v), &m, s.Key, origin{env: *current}); len(ps) > 0 {
			return nil, problemList(ps)
		}
		if m == nil {
			m = map[string]T{}
		}
		return m, nil
	}
}

// parseBool accepts what strconv.ParseBool does plus yes/no/on/off.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "yes", "on":
		return true, nil
	case "no", "off":
		return false, nil
	}
	return strconv.ParseBool(v)
}

func overlay[T any](base, top map[string]T) map[string]T {
	out := maps.Clone(base)
	if out == nil {
		out = make(map[string]T, len(top))
	}
	maps.Copy(out, top)
	return out
}

// chooseSecretSources settles each secret that has a _file twin. The
// environment beats the file as a pair: a variable for either form replaces
// both forms from the file. Both forms in the same place is an error.
func (l *loader) chooseSecretSources(cfg *Config) {
	root := reflect.ValueOf(cfg).Elem()
	for _, sp := range secretPairs() {
		val, file := root.FieldByIndex(sp.Value.Index), root.FieldByIndex(sp.File.Index)
		envVal, envFile := l.env[sp.Value.Env] != "", l.env[sp.File.Env] != ""
		switch {
		case envVal && envFile:
			l.problems = append(l.problems, Problem{Env: sp.Value.Env, Key: sp.Value.Key, Message: fmt.Sprintf(
				"%s and %s are both set; set only one of them", sp.Value.Env, sp.File.Env)})
		case envVal:
			file.SetString("")
		case envFile:
			val.SetString("")
		case val.String() != "" && file.String() != "":
			l.problems = append(l.problems, Problem{Env: sp.Value.Env, Key: sp.Value.Key, File: l.file, Message: fmt.Sprintf(
				"%s and %s are both set in the file; keep only one of them", sp.Value.Key, sp.File.Key)})
		}
	}
}

// normalize lower-cases the enumerations, so LABELGATE_LOG_LEVEL=DEBUG works.
func normalize(cfg *Config) {
	cfg.Mode = Mode(strings.ToLower(string(cfg.Mode)))
	cfg.LogLevel = strings.ToLower(cfg.LogLevel)
	cfg.LogFormat = strings.ToLower(cfg.LogFormat)
	cfg.Sync.Policy = SyncPolicy(strings.ToLower(string(cfg.Sync.Policy)))
	cfg.Connect.Mode = ConnectMode(strings.ToLower(string(cfg.Connect.Mode)))
	cfg.Docker.Swarm = strings.ToLower(cfg.Docker.SwarmFor(cfg.Mode))
}

// uses reports whether a process in cfg's mode reads the given section (the
// first segment of a file key). Sections a mode does not read are neither
// validated nor are the files they name opened.
func uses(mode Mode, sect string) bool {
	switch sect {
	case "", "docker":
		return true
	case "connect":
		return mode == ModeAgent
	default:
		return mode == ModeMain
	}
}

// readSecretFiles replaces each *_file path by the trimmed content of the
// file it names. The path stays in the Config, for display.
func (l *loader) readSecretFiles(cfg *Config) {
	root := reflect.ValueOf(cfg).Elem()
	for _, sp := range secretPairs() {
		if !uses(cfg.Mode, section(sp.File.Key)) {
			continue
		}
		path := root.FieldByIndex(sp.File.Index).String()
		if path == "" {
			continue
		}
		secret, err := readSecret(path)
		if err != nil {
			l.problems = append(l.problems, Problem{Env: sp.File.Env, Key: sp.File.Key, Message: err.Error()})
			continue
		}
		root.FieldByIndex(sp.Value.Index).SetString(secret)
	}
	if uses(cfg.Mode, "cloudflare") {
		for _, name := range slices.Sorted(maps.Keys(cfg.Cloudflare.Credentials)) {
			c := cfg.Cloudflare.Credentials[name]
			c.APIToken = l.entrySecret("cloudflare.credentials."+name, "api_token", c.APIToken, c.APITokenFile)
			cfg.Cloudflare.Credentials[name] = c
		}
	}
	if uses(cfg.Mode, "agent") {
		for _, name := range slices.Sorted(maps.Keys(cfg.Agent.Agents)) {
			a := cfg.Agent.Agents[name]
			a.Token = l.entrySecret("agent.agents."+name, "token", a.Token, a.TokenFile)
			cfg.Agent.Agents[name] = a
		}
	}
}

// entrySecret settles the secret of one map entry: value or value_file.
func (l *loader) entrySecret(entry, field string, value Secret, file string) Secret {
	key := entry + "." + field
	switch {
	case file == "":
		return value
	case value != "":
		l.problems.add(key, "%s and %s_file are both set; set only one of them", key, key)
		return value
	}
	secret, err := readSecret(file)
	if err != nil {
		l.problems.add(key+"_file", "%v", err)
		return ""
	}
	return Secret(secret)
}

func readSecret(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cannot read the secret file: %w", err)
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return "", fmt.Errorf("the secret file %s is empty", path)
	}
	return s, nil
}
