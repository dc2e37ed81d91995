package labels

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// DefaultPrefix is the label prefix unless configured otherwise.
const DefaultPrefix = "labelgate"

// Options tune Parse.
type Options struct {
	// Prefix is the first part of every key; DefaultPrefix when empty.
	Prefix string
	// Ignore lists further keys under the prefix that are not service labels,
	// such as a Docker filter label (`labelgate.enable` is always ignored).
	Ignore []string
}

// Parse validates one container's labels. Labels outside the prefix are not
// looked at. It never fails as a whole: each service either yields a spec or
// errors, independently of the others.
func Parse(raw map[string]string, opts Options) Result {
	prefix := cmp.Or(opts.Prefix, DefaultPrefix)
	p := &parser{prefix: prefix}
	ignore := map[string]bool{prefix + ".enable": true}
	for _, k := range opts.Ignore {
		ignore[k] = true
	}

	blocks := map[string]map[string]map[string]prop{} // kind → service → property → prop
	for _, key := range slices.Sorted(maps.Keys(raw)) {
		if !strings.HasPrefix(key, prefix+".") || ignore[key] {
			continue
		}
		rest := key[len(prefix)+1:]
		parts := strings.SplitN(rest, ".", 3)
		if len(parts) < 3 || parts[2] == "" {
			p.fail(Error{Key: key, Message: fmt.Sprintf(
				"a label key has the form %s.<kind>.<service>.<property>, for example %s.tunnel.web.hostname", prefix, prefix)})
			continue
		}
		kind, svc, property := parts[0], parts[1], parts[2]
		if kind != KindDNS && kind != KindTunnel && kind != KindAccess {
			p.fail(Error{Key: key, Message: fmt.Sprintf("unknown kind %q; allowed: dns, tunnel, access", kind)})
			continue
		}
		if msg := checkServiceName(kind, svc); msg != "" {
			p.fail(Error{Key: key, Kind: kind, Service: svc, Message: msg})
			continue
		}
		if blocks[kind] == nil {
			blocks[kind] = map[string]map[string]prop{}
		}
		if blocks[kind][svc] == nil {
			blocks[kind][svc] = map[string]prop{}
		}
		blocks[kind][svc][property] = prop{key: key, value: raw[key]}
	}

	var res Result
	for _, kind := range []string{KindDNS, KindTunnel, KindAccess} {
		services := blocks[kind]
		defaults := services["default"]
		p.checkDefaults(kind, defaults)
		for _, svc := range slices.Sorted(maps.Keys(services)) {
			if svc == "default" {
				continue
			}
			f := &fields{p: p, kind: kind, service: svc, own: services[svc], def: defaults, used: map[string]bool{}}
			switch kind {
			case KindDNS:
				if s, ok := f.dns(); ok {
					res.DNS = append(res.DNS, s)
				}
			case KindTunnel:
				if s, ok := f.tunnel(); ok {
					res.Tunnels = append(res.Tunnels, s)
				}
			case KindAccess:
				if s, ok := f.access(); ok {
					res.Access = append(res.Access, s)
				}
			}
		}
	}
	res.Errors = p.sortedErrors()
	return res
}

func checkServiceName(kind, svc string) string {
	switch {
	case svc == "default" && kind == KindAccess:
		return "an access template cannot be named default; pick another name"
	case svc == "default":
		return ""
	case !serviceNameRE.MatchString(svc):
		return fmt.Sprintf("service name %q is invalid; use lower-case letters, digits and inner hyphens", svc)
	case reserved[svc]:
		return fmt.Sprintf("service name %q is a reserved word (a property name); pick another name", svc)
	}
	return ""
}

type prop struct{ key, value string }

type parser struct {
	prefix string
	errs   []Error
}

func (p *parser) fail(e Error) { p.errs = append(p.errs, e) }

// sortedErrors orders errors by key and drops repeats, which occur when a
// bad value in a defaults block is applied to several services.
func (p *parser) sortedErrors() []Error {
	sort.SliceStable(p.errs, func(i, j int) bool {
		if p.errs[i].Key != p.errs[j].Key {
			return p.errs[i].Key < p.errs[j].Key
		}
		return p.errs[i].Message < p.errs[j].Message
	})
	return slices.Compact(p.errs)
}

// defaultable lists, per kind, the properties a `default` block may set.
var defaultable = map[string]map[string]bool{
	KindDNS: {"type": true, "target": true, "proxied": true, "ttl": true, "comment": true,
		"cleanup": true, "credential": true, "access": true},
	KindTunnel: {"tunnel": true, "cleanup": true, "credential": true, "access": true},
}

func (p *parser) checkDefaults(kind string, defaults map[string]prop) {
	for _, name := range slices.Sorted(maps.Keys(defaults)) {
		if defaultable[kind][name] || kind == KindTunnel && strings.HasPrefix(name, "origin.") {
			continue // values are checked where they apply, origin keys too
		}
		allowed := slices.Sorted(maps.Keys(defaultable[kind]))
		if kind == KindTunnel {
			allowed = append(allowed, "origin.*")
		}
		p.fail(Error{Key: defaults[name].key, Kind: kind, Service: "default", Message: fmt.Sprintf(
			"%q cannot be set in a default block; allowed there: %s", name, strings.Join(allowed, ", "))})
	}
}

// fields is one service's properties with its kind's defaults behind them.
type fields struct {
	p             *parser
	kind, service string
	own, def      map[string]prop
	used          map[string]bool
	failed        bool
}

// get returns a property from the service, else from the defaults block.
func (f *fields) get(name string) (prop, bool) {
	f.used[name] = true
	if v, ok := f.own[name]; ok {
		return v, true
	}
	if v, ok := f.def[name]; ok && defaultable[f.kind][name] {
		return v, true
	}
	return prop{}, false
}

// own returns a property only from the service itself.
func (f *fields) ownProp(name string) (prop, bool) {
	f.used[name] = true
	v, ok := f.own[name]
	return v, ok
}

// key is the label key of a property of this service (for errors about
// properties that are missing, there is no label to quote).
func (f *fields) key(name string) string {
	return f.p.prefix + "." + f.kind + "." + f.service + "." + name
}

func (f *fields) errorf(key, format string, args ...any) {
	f.failed = true
	svc := f.service
	if strings.HasPrefix(key, f.p.prefix+"."+f.kind+".default.") {
		svc = "default" // a defaults-block value, reported once for all services
	}
	f.p.fail(Error{Key: key, Kind: f.kind, Service: svc, Message: fmt.Sprintf(format, args...)})
}

// unknown reports every property of the service that no rule consumed.
func (f *fields) unknown(allowed string) {
	for _, name := range slices.Sorted(maps.Keys(f.own)) {
		if !f.used[name] {
			f.errorf(f.own[name].key, "unknown %s property %q; allowed: %s", f.kind, name, allowed)
		}
	}
}
