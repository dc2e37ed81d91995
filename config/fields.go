package config

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// setting is one documented option: a scalar field of Config, or one of the
// three map fields (cloudflare.credentials, cloudflare.tunnels, agent.agents),
// which are settings of their own with one environment variable each.
type setting struct {
	Env   string       // LABELGATE_DOCKER_POLL_INTERVAL
	Key   string       // docker.poll_interval
	Index []int        // reflect field index path from Config
	Type  reflect.Type // the field's type
}

// secretPair is a secret and its _file twin (cloudflare.api_token and
// cloudflare.api_token_file).
type secretPair struct {
	Value, File setting
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	secretType   = reflect.TypeFor[Secret]()
)

// settings lists every setting of Config in declaration order. It is
// computed once from the struct tags and never changes afterwards.
var settings = sync.OnceValue(func() []setting {
	return collectSettings(reflect.TypeFor[Config](), EnvPrefix, "", nil)
})

func collectSettings(t reflect.Type, envPrefix, keyPrefix string, index []int) []setting {
	var out []setting
	for i := range t.NumField() {
		f := t.Field(i)
		name := yamlName(f)
		if name == "" {
			continue
		}
		idx := append(slices.Clone(index), i)
		key := joinKey(keyPrefix, name)
		if p, ok := f.Tag.Lookup("envPrefix"); ok && f.Type.Kind() == reflect.Struct {
			out = append(out, collectSettings(f.Type, envPrefix+p, key, idx)...)
			continue
		}
		envName, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if envName == "" || envName == "-" {
			continue
		}
		out = append(out, setting{Env: envPrefix + envName, Key: key, Index: idx, Type: f.Type})
	}
	return out
}

// settingByKey finds the setting with the given file key.
func settingByKey(key string) (setting, bool) {
	for _, s := range settings() {
		if s.Key == key {
			return s, true
		}
	}
	return setting{}, false
}

// settingByEnv finds the setting read from the given variable.
func settingByEnv(name string) (setting, bool) {
	for _, s := range settings() {
		if s.Env == name {
			return s, true
		}
	}
	return setting{}, false
}

// envFor returns the variable that sets key: the setting's own variable, or
// for a key inside a map entry (agent.agents.x.token) the map's variable.
func envFor(key string) string {
	best := setting{}
	for _, s := range settings() {
		if s.Key == key {
			return s.Env
		}
		if strings.HasPrefix(key, s.Key+".") && len(s.Key) > len(best.Key) {
			best = s
		}
	}
	return best.Env
}

// secretPairs lists every top-level secret with its _file twin.
var secretPairs = sync.OnceValue(func() []secretPair {
	var out []secretPair
	for _, f := range settings() {
		base, ok := strings.CutSuffix(f.Key, "_file")
		if !ok {
			continue
		}
		if v, ok := settingByKey(base); ok && v.Type == secretType {
			out = append(out, secretPair{Value: v, File: f})
		}
	}
	return out
})

// section is the first segment of a file key ("" for top-level scalars).
func section(key string) string {
	s, _, ok := strings.Cut(key, ".")
	if !ok {
		return ""
	}
	return s
}

func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// yamlKeys lists the keys a YAML mapping for struct type t may hold.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if n := yamlName(t.Field(i)); n != "" {
			keys = append(keys, n)
		}
	}
	return keys
}

// fieldByYAML returns the field of struct t whose YAML key is name.
func fieldByYAML(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); yamlName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func joinKey(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// formatValue renders a setting's value the way the documentation writes it:
// durations in their shortest form (30m, 2m, 500ms, 0s), empty strings and
// empty maps as "".
func formatValue(v reflect.Value) string {
	if v.Type() == durationType {
		return formatDuration(time.Duration(v.Int()))
	}
	switch v.Kind() {
	case reflect.String:
		if v.Type() == secretType {
			return Secret(v.String()).String()
		}
		return v.String()
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Map, reflect.Slice:
		if v.Len() == 0 {
			return ""
		}
		if strs, ok := v.Interface().([]string); ok {
			return strings.Join(strs, ",")
		}
	}
	return "…"
}

// formatDuration writes d without the trailing zero units time.Duration.String
// adds: 30m instead of 30m0s, 1h instead of 1h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
