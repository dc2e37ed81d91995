package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/labelgate/labelgate/labels"
)

// templateProblem is a problem of one pinned template, by file key.
type templateProblem struct{ key, msg string }

// PinnedTemplates parses access.templates with the label parser: each entry
// is read as the labels `labelgate.access.<name>.<property>`. It returns the
// templates by name and the problems, each under its file key
// (access.templates.<name>.<property>).
func (c Config) PinnedTemplates() (map[string]labels.AccessTemplate, []templateProblem) {
	out := map[string]labels.AccessTemplate{}
	var problems []templateProblem
	for _, name := range slices.Sorted(maps.Keys(c.Access.Templates)) {
		props := c.Access.Templates[name]
		key := "access.templates." + name
		if len(props) == 0 {
			problems = append(problems, templateProblem{key, fmt.Sprintf("template %s has no properties; give it at least a policy.include rule", name)})
			continue
		}
		prefix := labels.DefaultPrefix + ".access." + name + "."
		ls := map[string]string{}
		for prop, v := range props {
			ls[prefix+prop] = v
		}
		res := labels.Parse(ls, labels.Options{})
		for _, e := range res.Errors {
			k := key
			if prop, ok := strings.CutPrefix(e.Key, prefix); ok {
				k += "." + prop
			}
			problems = append(problems, templateProblem{k, e.Message})
		}
		for _, t := range res.Access {
			if t.Name == name && len(res.Errors) == 0 {
				out[name] = t
			}
		}
		if _, ok := out[name]; !ok && len(res.Errors) == 0 {
			problems = append(problems, templateProblem{key, fmt.Sprintf("%q is not a template name; want lowercase letters, digits and '-'", name)})
		}
	}
	return out, problems
}
