package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// origin says where YAML text came from, for the problems it causes.
type origin struct {
	file string // path of the configuration file, or ""
	env  string // variable holding the text (LABELGATE_AGENT_AGENTS), or ""
}

// decodeStrict decodes YAML (JSON is YAML too) into out, which must be a
// pointer, rejecting unknown keys. root is the file key of out ("" for the
// whole file). Decoding goes as far as it can: every problem is returned,
// and what decoded cleanly is kept in out.
func decodeStrict(data []byte, out any, root string, from origin) []Problem {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(out)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return []Problem{syntaxProblem(err, root, from)}
	}
	var doc yaml.Node
	var refs []nodeRef
	if yaml.Unmarshal(data, &doc) == nil {
		indexNodes(&doc, reflect.TypeOf(out).Elem(), root, nil, &refs)
	}
	ps := make([]Problem, 0, len(te.Errors))
	for _, msg := range te.Errors {
		ps = append(ps, explain(msg, refs, root, from))
	}
	return ps
}

// nodeRef ties a YAML node to the file key and Go type it decodes into.
type nodeRef struct {
	path    string       // docker.poll_interval, cloudflare.credentials.cf.zones[0]
	name    string       // the mapping key as written; "" for list items and the root
	keyLine int          // line of the mapping key
	line    int          // line of the value
	typ     reflect.Type // expected type; nil when the key is unknown
	parent  reflect.Type // struct the key was looked up in (for unknown keys)
	node    *yaml.Node
}

func indexNodes(n *yaml.Node, t reflect.Type, path string, parent reflect.Type, refs *[]nodeRef) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
		*refs = append(*refs, nodeRef{path: path, keyLine: n.Line, line: n.Line, typ: t, node: n})
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.MappingNode && (t.Kind() == reflect.Struct || t.Kind() == reflect.Map):
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" && k.Tag == "!!merge" {
				continue
			}
			ref := nodeRef{path: joinKey(path, k.Value), name: k.Value, keyLine: k.Line, line: v.Line, node: v}
			if t.Kind() == reflect.Map {
				ref.typ = t.Elem()
			} else {
				ref.parent = t
				if f, ok := fieldByYAML(t, k.Value); ok {
					ref.typ = f.Type
				}
			}
			*refs = append(*refs, ref)
			if ref.typ != nil {
				indexNodes(v, ref.typ, ref.path, t, refs)
			}
		}
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			*refs = append(*refs, nodeRef{path: p, keyLine: item.Line, line: item.Line, typ: t.Elem(), node: item})
			indexNodes(item, t.Elem(), p, parent, refs)
		}
	}
}

var (
	reUnknown   = regexp.MustCompile(`^line (\d+): field (.+) not found in type (.+)$`)
	reMismatch  = regexp.MustCompile("^line (\\d+): cannot unmarshal (!!\\w+)(?: `(.*)`)? into (.+)$")
	reDuplicate = regexp.MustCompile(`^line (\d+): mapping key "(.+)" already defined at line (\d+)$`)
	reLine      = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
)

// explain turns one of yaml's type-error strings into a Problem that names
// the full key and says what is allowed.
func explain(msg string, refs []nodeRef, root string, from origin) Problem {
	p := Problem{Key: root, File: from.file, Message: msg}
	if m := reUnknown.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		p.Line = line
		p.Message = fmt.Sprintf("unknown key %q", m[2])
		for _, r := range refs {
			if r.keyLine == line && r.name == m[2] && r.typ == nil {
				p.Key = r.path
				if r.parent != nil {
					p.Message += "; allowed here: " + strings.Join(yamlKeys(r.parent), ", ")
				}
				break
			}
		}
		return withEnv(p, from)
	}
	if m := reDuplicate.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		p.Line = line
		p.Message = fmt.Sprintf("key %q appears twice (first at line %s); keep one", m[2], m[3])
		for _, r := range refs {
			if r.keyLine == line && r.name == m[2] {
				p.Key = r.path
				break
			}
		}
		return withEnv(p, from)
	}
	if m := reMismatch.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		p.Line = line
		r, ok := findMismatch(refs, line, m[2], m[3], m[4])
		if !ok {
			p.Message = strings.TrimPrefix(msg, "line "+m[1]+": ")
			return withEnv(p, from)
		}
		p.Key = r.path
		got := describeNode(r.node, from.env == "")
		p.Message = fmt.Sprintf("got %s; %s", got, typeHint(r.typ, r.node))
		return withEnv(p, from)
	}
	if m := reLine.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Message = m[2]
	}
	return withEnv(p, from)
}

// findMismatch finds the node a "cannot unmarshal !!tag `value` into type"
// message is about: same line, same expected type, same tag, same value.
func findMismatch(refs []nodeRef, line int, tag, value, typeName string) (nodeRef, bool) {
	var candidates []nodeRef
	for _, r := range refs {
		if r.line == line && r.typ != nil && r.typ.String() == typeName && resolved(r.node).ShortTag() == tag {
			candidates = append(candidates, r)
		}
	}
	for _, r := range candidates {
		short, truncated := strings.CutSuffix(value, "...")
		if r.node.Value == value || (truncated && strings.HasPrefix(r.node.Value, short)) {
			return r, true
		}
	}
	if len(candidates) > 0 {
		return candidates[0], true
	}
	return nodeRef{}, false
}

func resolved(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

func describeNode(n *yaml.Node, showValue bool) string {
	n = resolved(n)
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	if showValue {
		return strconv.Quote(n.Value)
	}
	return "a value that does not fit"
}

// typeHint says in words what a value of type t looks like.
func typeHint(t reflect.Type, n *yaml.Node) string {
	if t == durationType {
		if n.Tag == "!!int" || n.Tag == "!!float" {
			return "a duration needs a unit: write for example 30s, 5m or 1h (0s for zero)"
		}
		return "want a duration such as 30s, 5m or 1h30m"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "want true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "want a whole number"
	case reflect.Float32, reflect.Float64:
		return "want a number"
	case reflect.String:
		return "want a single value"
	case reflect.Slice:
		return "want a list such as [a, b]"
	case reflect.Map:
		return "want a mapping of names to entries, such as {name: {...}}"
	case reflect.Struct:
		return "want a mapping with the keys " + strings.Join(yamlKeys(t), ", ")
	}
	return "want a " + t.String()
}

func syntaxProblem(err error, root string, from origin) Problem {
	p := Problem{Key: root, File: from.file}
	msg := err.Error()
	if m := reLine.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	if from.file != "" {
		p.Message = "the file is not valid YAML: " + msg
	} else {
		p.Message = "the value is not valid inline YAML/JSON: " + msg
	}
	return withEnv(p, from)
}

// withEnv fills in the variable: the one that held the text, or the one that
// corresponds to the key. A line number inside an environment value is only
// worth saying when the value spans several lines.
func withEnv(p Problem, from origin) Problem {
	if from.env == "" {
		p.Env = envFor(p.Key)
		return p
	}
	p.Env = from.env
	if p.Line > 1 {
		p.Message += fmt.Sprintf(" (line %d of the value)", p.Line)
	}
	p.Line = 0
	return p
}
