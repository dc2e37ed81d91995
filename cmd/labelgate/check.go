package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/labelgate/labelgate/composefile"
	"github.com/labelgate/labelgate/labels"
)

const checkUsage = `Usage: labelgate check [--json] [--prefix P] <compose.yaml | -> ...

Lints Labelgate labels before you deploy. For a compose file it reads every
service's labels (map and list forms, with ${VAR} interpolation from the
environment and a .env file beside the compose file). With "-" it reads
KEY=VALUE lines from standard input as the labels of one container.

It prints, per service, the resources Labelgate would create or the errors,
then warnings about the file as a whole. Exit status: 0 when there is no
error, 1 when any label is invalid, 2 for bad usage or unreadable input.

  --json         print the same as JSON
  --prefix P     label prefix (default: $LABELGATE_LABEL_PREFIX, else labelgate)
`

// checkReport is the JSON form of one `check` run.
type checkReport struct {
	Sources    []checkSource `json:"sources"`
	Warnings   []string      `json:"warnings,omitempty"`
	ErrorCount int           `json:"errorCount"`
}

type checkSource struct {
	Source   string         `json:"source"`
	Services []checkService `json:"services"`
}

type checkService struct {
	Name string `json:"name"`
	labels.Result
}

func runCheck(args []string, stdin io.Reader, stdout, stderr io.Writer, env map[string]string) int {
	asJSON := false
	prefix := env["LABELGATE_LABEL_PREFIX"]
	var inputs []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--json" || a == "-json":
			asJSON = true
		case a == "--prefix" || a == "-prefix":
			if i+1 >= len(args) {
				fmt.Fprint(stderr, "labelgate check: --prefix needs a value\n\n"+checkUsage)
				return 2
			}
			i++
			prefix = args[i]
		case strings.HasPrefix(a, "--prefix="):
			prefix = strings.TrimPrefix(a, "--prefix=")
		case a == "-h" || a == "--help":
			fmt.Fprint(stdout, checkUsage)
			return 0
		case strings.HasPrefix(a, "-") && a != "-":
			fmt.Fprintf(stderr, "labelgate check: unknown flag %s\n\n%s", a, checkUsage)
			return 2
		default:
			inputs = append(inputs, a)
		}
	}
	if len(inputs) == 0 {
		fmt.Fprint(stderr, "labelgate check: give a compose file, or - for KEY=VALUE lines on standard input\n\n"+checkUsage)
		return 2
	}
	opts := labels.Options{Prefix: prefix}
	if fl := env["LABELGATE_DOCKER_FILTER_LABEL"]; fl != "" {
		key, _, _ := strings.Cut(fl, "=")
		opts.Ignore = append(opts.Ignore, key)
	}

	var rep checkReport
	for _, in := range inputs {
		src, warnings, err := checkInput(in, stdin, opts, env)
		if err != nil {
			fmt.Fprintf(stderr, "labelgate check: %v\n", err)
			return 2
		}
		rep.Sources = append(rep.Sources, src)
		rep.Warnings = append(rep.Warnings, warnings...)
	}
	rep.Warnings = append(rep.Warnings, crossServiceWarnings(rep.Sources, cmp.Or(prefix, labels.DefaultPrefix))...)
	for _, s := range rep.Sources {
		for _, svc := range s.Services {
			rep.ErrorCount += len(svc.Errors)
		}
	}

	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "labelgate check: %v\n", err)
			return 2
		}
	} else {
		printCheck(stdout, rep)
	}
	if rep.ErrorCount > 0 {
		return 1
	}
	return 0
}

func checkInput(in string, stdin io.Reader, opts labels.Options, env map[string]string) (checkSource, []string, error) {
	if in == "-" {
		lbls, err := readKeyValues(stdin)
		if err != nil {
			return checkSource{}, nil, err
		}
		return checkSource{Source: "stdin", Services: []checkService{{Name: "stdin", Result: labels.Parse(lbls, opts)}}}, nil, nil
	}
	f, err := composefile.Load(in, env)
	if err != nil {
		return checkSource{}, nil, fmt.Errorf("%s: %w", in, err)
	}
	src := checkSource{Source: in}
	for _, s := range f.Services {
		src.Services = append(src.Services, checkService{Name: s.Name, Result: labels.Parse(s.Labels, opts)})
	}
	warnings := make([]string, 0, len(f.Warnings))
	for _, w := range f.Warnings {
		warnings = append(warnings, in+": "+w)
	}
	return src, warnings, nil
}

// readKeyValues reads KEY=VALUE lines; blank lines and # comments are skipped.
func readKeyValues(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("stdin line %d: %q is not KEY=VALUE", n, line)
		}
		out[strings.TrimSpace(k)] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading stdin: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("stdin held no KEY=VALUE lines")
	}
	return out, nil
}

// crossServiceWarnings notes what only shows across services: a hostname
// claimed twice (only the first container to start gets it) and access
// templates referenced but defined nowhere in the inputs.
func crossServiceWarnings(sources []checkSource, prefix string) []string {
	claims := map[string][]string{}
	defined := map[string]bool{}
	referenced := map[string][]string{}
	for _, src := range sources {
		for _, svc := range src.Services {
			for _, d := range svc.DNS {
				k := "DNS " + d.Type + " record " + d.Hostname
				claims[k] = append(claims[k], svc.Name)
				if d.Access != "" {
					referenced[d.Access] = append(referenced[d.Access], svc.Name)
				}
			}
			for _, t := range svc.Tunnels {
				k := "tunnel route " + t.Hostname
				if t.Path != "" {
					k += " (path " + t.Path + ")"
				}
				claims[k] = append(claims[k], svc.Name)
				if t.Access != "" {
					referenced[t.Access] = append(referenced[t.Access], svc.Name)
				}
			}
			for _, a := range svc.Access {
				defined[a.Name] = true
			}
		}
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(claims)) {
		if who := slices.Compact(claims[k]); len(claims[k]) > 1 {
			out = append(out, fmt.Sprintf("%s is claimed %d times (services %s); only the first container to register it gets it, the others wait in the queue",
				k, len(claims[k]), strings.Join(who, ", ")))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(referenced)) {
		if !defined[name] {
			out = append(out, fmt.Sprintf("access template %q (used by %s) is not defined here; some container that main sees must carry %s.access.%s.* labels",
				name, strings.Join(slices.Compact(referenced[name]), ", "), prefix, name))
		}
	}
	return out
}

func printCheck(w io.Writer, rep checkReport) {
	resources := 0
	for _, src := range rep.Sources {
		fmt.Fprintln(w, src.Source)
		for _, svc := range src.Services {
			fmt.Fprintf(w, "  service %s\n", svc.Name)
			if svc.Empty() {
				fmt.Fprintln(w, "    (no labelgate labels)")
			}
			for _, t := range svc.Tunnels {
				resources++
				fmt.Fprintf(w, "    tunnel  %s%s -> %s  tunnel=%s%s%s\n", t.Hostname, pathSuffix(t.Path), t.Origin,
					cmp.Or(t.Tunnel, "(default)"), accessSuffix(t.Access), cleanupSuffix(t.Cleanup))
			}
			for _, d := range svc.DNS {
				resources++
				fmt.Fprintf(w, "    dns     %s %s -> %s%s%s%s\n", d.Type, d.Hostname, describeTarget(d), dnsFlags(d),
					accessSuffix(d.Access), cleanupSuffix(d.Cleanup))
			}
			for _, a := range svc.Access {
				resources++
				fmt.Fprintf(w, "    access  %s: app %q, policy %q %s, %s\n", a.Name, a.AppName, a.Policy.Name, a.Policy.Decision, describeRules(a.Policy))
			}
			for _, e := range svc.Errors {
				fmt.Fprintf(w, "    ERROR   %s: %s\n", e.Key, e.Message)
			}
		}
	}
	if len(rep.Warnings) > 0 {
		fmt.Fprintln(w, "warnings:")
		for _, warn := range rep.Warnings {
			fmt.Fprintf(w, "  - %s\n", warn)
		}
	}
	fmt.Fprintf(w, "%d resource(s), %d error(s)\n", resources, rep.ErrorCount)
}

func pathSuffix(p string) string {
	if p == "" {
		return ""
	}
	return " path=" + strconv.Quote(p)
}

func accessSuffix(a string) string {
	if a == "" {
		return ""
	}
	return "  access=" + a
}

func cleanupSuffix(c bool) string {
	if c {
		return "  cleanup"
	}
	return ""
}

func describeTarget(d labels.DNSService) string {
	switch d.Target.Kind {
	case labels.TargetAuto:
		if d.Type == "AAAA" {
			return "this host's public IPv6"
		}
		return "this host's public IPv4"
	case labels.TargetContainer:
		if d.Target.Network != "" {
			return "the container's IP on network " + d.Target.Network
		}
		return "the container's IP"
	}
	return strconv.Quote(d.Target.Value)
}

func dnsFlags(d labels.DNSService) string {
	var parts []string
	if d.Proxied {
		parts = append(parts, "proxied")
	}
	if d.TTL == 1 {
		parts = append(parts, "ttl=auto")
	} else {
		parts = append(parts, "ttl="+strconv.Itoa(d.TTL))
	}
	if d.Priority != nil {
		parts = append(parts, "priority="+strconv.Itoa(int(*d.Priority)))
	}
	if d.Weight != nil {
		parts = append(parts, "weight="+strconv.Itoa(int(*d.Weight)))
	}
	if d.Port != nil {
		parts = append(parts, "port="+strconv.Itoa(int(*d.Port)))
	}
	if d.Flags != nil {
		parts = append(parts, "flags="+strconv.Itoa(int(*d.Flags)), "tag="+d.Tag)
	}
	if d.Credential != "" {
		parts = append(parts, "credential="+d.Credential)
	}
	return "  " + strings.Join(parts, " ")
}

func describeRules(p labels.AccessPolicy) string {
	var groups []string
	for _, g := range []struct {
		name  string
		rules []labels.AccessRule
	}{{"include", p.Include}, {"require", p.Require}, {"exclude", p.Exclude}} {
		if len(g.rules) == 0 {
			continue
		}
		var rs []string
		for _, r := range g.rules {
			if r.Value == "" {
				rs = append(rs, r.Selector)
			} else {
				rs = append(rs, r.Selector+"="+r.Value)
			}
		}
		groups = append(groups, g.name+" "+strings.Join(rs, " | "))
	}
	return strings.Join(groups, "; ")
}
