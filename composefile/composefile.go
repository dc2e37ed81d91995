package composefile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Service is one compose service and the labels its containers carry.
type Service struct {
	Name   string
	Labels map[string]string
	// DeployLabels are the service's `deploy.labels`: in a Swarm stack they
	// are the labels of the Swarm service itself, which is what Labelgate
	// reads on a manager (docker.swarm). Plain Compose ignores them.
	DeployLabels map[string]string
}

// File is what a compose file declares, services sorted by name.
type File struct {
	Services []Service
	// Warnings are interpolation notes (unset variables) that Compose would
	// also print; they do not make the file invalid.
	Warnings []string
}

// Load reads a compose file, interpolating from env and from a `.env` file
// in the same directory (env wins, as in Compose).
func Load(path string, env map[string]string) (File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return File{}, fmt.Errorf("reading compose file: %w", err)
	}
	vars := map[string]string{}
	dotenv := filepath.Join(filepath.Dir(path), ".env")
	if b, err := os.ReadFile(dotenv); err == nil {
		parsed, err := parseDotEnv(b)
		if err != nil {
			return File{}, fmt.Errorf("reading %s: %w", dotenv, err)
		}
		maps.Copy(vars, parsed)
	} else if !errors.Is(err, os.ErrNotExist) {
		return File{}, fmt.Errorf("reading %s: %w", dotenv, err)
	}
	maps.Copy(vars, env)
	return Parse(data, vars)
}

// Parse decodes compose YAML and returns each service's labels.
func Parse(data []byte, vars map[string]string) (File, error) {
	var doc struct {
		Services map[string]struct {
			Labels yaml.Node `yaml:"labels"`
			Deploy struct {
				Labels yaml.Node `yaml:"labels"`
			} `yaml:"deploy"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return File{}, fmt.Errorf("parsing compose YAML: %w", err)
	}
	if doc.Services == nil {
		return File{}, errors.New("the file has no services section; is it a compose file?")
	}
	in := &interpolator{vars: vars}
	var f File
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(doc.Services)) {
		lbls, err := labelsOf(doc.Services[name].Labels, in)
		if err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", name, err))
			continue
		}
		deploy, err := labelsOf(doc.Services[name].Deploy.Labels, in)
		if err != nil {
			errs = append(errs, fmt.Errorf("service %s: deploy.%w", name, err))
			continue
		}
		f.Services = append(f.Services, Service{Name: name, Labels: lbls, DeployLabels: deploy})
	}
	f.Warnings = slices.Compact(slices.Sorted(slices.Values(in.warnings)))
	return f, errors.Join(errs...)
}

// labelsOf reads the map form (`key: value`) or the list form (`- key=value`).
func labelsOf(n yaml.Node, in *interpolator) (map[string]string, error) {
	out := map[string]string{}
	switch n.Kind {
	case 0:
		return out, nil
	case yaml.MappingNode:
		var m map[string]any
		if err := n.Decode(&m); err != nil {
			return nil, fmt.Errorf("labels: %w", err)
		}
		for k, v := range m {
			s, err := in.expand(scalar(v))
			if err != nil {
				return nil, fmt.Errorf("label %s: %w", k, err)
			}
			out[k] = s
		}
	case yaml.SequenceNode:
		var list []string
		if err := n.Decode(&list); err != nil {
			return nil, fmt.Errorf("labels: a list of KEY=VALUE strings is expected: %w", err)
		}
		for _, item := range list {
			k, v, _ := strings.Cut(item, "=")
			s, err := in.expand(v)
			if err != nil {
				return nil, fmt.Errorf("label %s: %w", k, err)
			}
			out[k] = s
		}
	default:
		return nil, fmt.Errorf("labels must be a map or a list (line %d)", n.Line)
	}
	return out, nil
}

// scalar renders a YAML value the way Compose turns it into a label string.
func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

// parseDotEnv reads KEY=VALUE lines; # starts a comment line; values may be
// single- or double-quoted.
func parseDotEnv(b []byte) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			return nil, fmt.Errorf("line %d is not KEY=VALUE", n)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, sc.Err()
}
