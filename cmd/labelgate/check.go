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

	"github.com/labelgate/labelgate/claims"
	"github.com/labelgate/labelgate/composefile"
	"github.com/labelgate/labelgate/config"
	"github.com/labelgate/labelgate/labels"
	"github.com/labelgate/labelgate/messages"
)

const checkUsage = `Usage: labelgate check [--json] [--prefix P] [--agent NAME] <compose.yaml | -> ...

Lints Labelgate labels before you deploy, with the checks main makes for
each container (package claims): the label schema, tunnel names, an agent's
scope, and the rules within one container (one tunnel per hostname, no DNS
record on a tunnel hostname, a CNAME alone at its name, ...). For a compose
file it reads every service's labels (map and list forms, with ${VAR}
interpolation from the environment and a .env file beside the compose
file). With "-" it reads KEY=VALUE lines from standard input as the labels
of one container.

Main's configuration is read as main reads it (LABELGATE_* variables and
the file $LABELGATE_CONFIG, else /etc/labelgate/labelgate.yaml if present);
its own problems are left to "labelgate run". Tunnel names are checked only
when it names at least one tunnel.

It prints, per service, the resources Labelgate would create or the errors,
then notes and warnings about the input as a whole. Exit status: 0 when
there is no error, 1 when any label is invalid or refused, 2 for bad usage
or unreadable input.

  --json         print the same as JSON
  --prefix P     label prefix (default: main's label_prefix, else labelgate)
  --agent NAME   judge the labels as agent NAME's containers: its scope and
                 default tunnel in main's configuration (agent.agents) apply
`

// checkDefaultConfigFile is the file main reads when LABELGATE_CONFIG is
// unset; tests point it elsewhere.
var checkDefaultConfigFile = config.DefaultFile

// checkReport is the JSON form of one `check` run.
type checkReport struct {
	Sources []checkSource `json:"sources"`
	// Notes say which of main's checks could not be made here.
	Notes      []string `json:"notes,omitempty"`
	Warnings   []string `json:"warnings,omitempty"`
	ErrorCount int      `json:"errorCount"`
}

type checkSource struct {
	Source   string         `json:"source"`
	Services []checkService `json:"services"`
}

// checkService is one container: what main would create (services that a
// check refused are left out) and every error, label and claim alike.
type checkService struct {
	Name string `json:"name"`
	labels.Result
}

func runCheck(args []string, stdin io.Reader, stdout, stderr io.Writer, env map[string]string) int {
	asJSON := false
	prefix, agent := "", ""
	var inputs []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--json" || a == "-json":
			asJSON = true
		case a == "--prefix" || a == "-prefix" || a == "--agent" || a == "-agent":
			if i+1 >= len(args) {
				fmt.Fprintf(stderr, "labelgate check: %s needs a value\n\n%s", a, checkUsage)
				return 2
			}
			i++
			if strings.HasSuffix(a, "prefix") {
				prefix = args[i]
			} else {
				agent = args[i]
			}
		case strings.HasPrefix(a, "--prefix="):
			prefix = strings.TrimPrefix(a, "--prefix=")
		case strings.HasPrefix(a, "--agent="):
			agent = strings.TrimPrefix(a, "--agent=")
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
	j, err := newJudge(env, prefix, agent)
	if err != nil {
		fmt.Fprintf(stderr, "labelgate check: %v\n", err)
		return 2
	}

	var rep checkReport
	for _, in := range inputs {
		src, warnings, err := checkInput(in, stdin, j, env)
		if err != nil {
			fmt.Fprintf(stderr, "labelgate check: %v\n", err)
			return 2
		}
		rep.Sources = append(rep.Sources, src)
		rep.Warnings = append(rep.Warnings, warnings...)
	}
	rep.Notes = j.notes(rep.Sources)
	rep.Warnings = append(rep.Warnings, crossServiceWarnings(rep.Sources, cmp.Or(j.cfg.Labels.Prefix, labels.DefaultPrefix), j.cfg.Pinned)...)
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

// judge is how `check` judges a container: as main's registry does
// (claims.Lint), with what main's configuration says and what `check`
// cannot know marked as such.
type judge struct {
	source string // messages.LocalSource, or the agent of --agent
	cfg    claims.Config
}

// newJudge reads main's configuration the way main does. Its problems are
// not check's to report (a laptop has no API token, and "labelgate run"
// lists them all), except a file LABELGATE_CONFIG names that cannot be
// read: that is unreadable input.
func newJudge(env map[string]string, prefix, agent string) (judge, error) {
	menv := maps.Clone(env)
	if menv == nil {
		menv = map[string]string{} // nil would read the process environment
	}
	loaded, err := config.Load(config.Source{Env: menv, DefaultFile: checkDefaultConfigFile})
	var verr *config.ValidationError
	if errors.As(err, &verr) {
		for _, p := range verr.Problems {
			if p.Env == config.FileEnv {
				return judge{}, fmt.Errorf("main's configuration: %s", p.Message)
			}
		}
	}
	j := judge{source: messages.LocalSource, cfg: claims.ConfigFrom(loaded)}
	if prefix != "" {
		j.cfg.Labels.Prefix = prefix
	}
	// Without a tunnel in main's configuration here, check cannot tell a
	// main without tunnels from a main configured elsewhere (the usual
	// case: its environment is in the deployment, not on this machine).
	j.cfg.Unknown.Tunnels = len(j.cfg.Tunnels) == 0
	if agent != "" {
		if _, ok := loaded.Agent.Agents[agent]; !ok {
			return judge{}, fmt.Errorf("--agent %s: main's configuration has no agent %q (agent.agents)", agent, agent)
		}
		j.source = messages.AgentSource(agent)
		// What the agent announces (its own default_tunnel) is not in
		// main's configuration.
		j.cfg.Unknown.Announced = true
	}
	return j, nil
}

// service judges one container's labels.
func (j judge) service(name string, lbls map[string]string) checkService {
	rep := claims.Lint(j.source, name, lbls, j.cfg)
	res := rep.Parsed
	res.Tunnels = slices.DeleteFunc(slices.Clone(res.Tunnels), func(t labels.TunnelService) bool { return rep.Refused(labels.KindTunnel, t.Service) })
	res.DNS = slices.DeleteFunc(slices.Clone(res.DNS), func(d labels.DNSService) bool { return rep.Refused(labels.KindDNS, d.Service) })
	res.Errors = rep.LabelErrors()
	return checkService{Name: name, Result: res}
}

// notes say which checks of main's were not made because check cannot
// know what they depend on, when the input has something they would judge.
func (j judge) notes(sources []checkSource) []string {
	routes, unlabelled := false, false
	for _, src := range sources {
		for _, svc := range src.Services {
			for _, t := range svc.Tunnels {
				routes = true
				unlabelled = unlabelled || t.Tunnel == ""
			}
		}
	}
	var out []string
	if routes && j.cfg.Unknown.Tunnels {
		out = append(out, "tunnel names are not checked: main's configuration here names no tunnel (cloudflare.tunnel_id or cloudflare.tunnels, "+
			"through LABELGATE_* or LABELGATE_CONFIG); main refuses a route through a tunnel it does not have")
	}
	if unlabelled && j.cfg.Unknown.Announced && j.cfg.AgentDefaults[j.source] == "" {
		out = append(out, fmt.Sprintf("routes without a tunnel label go through the default tunnel agent %s announces (its own default_tunnel), "+
			"which check cannot know: their tunnel is not checked", strings.TrimPrefix(j.source, "agent:")))
	}
	return out
}

func checkInput(in string, stdin io.Reader, j judge, env map[string]string) (checkSource, []string, error) {
	if in == "-" {
		lbls, err := readKeyValues(stdin)
		if err != nil {
			return checkSource{}, nil, err
		}
		svc := j.service("stdin", lbls)
		return checkSource{Source: "stdin", Services: []checkService{svc}}, j.pinnedWarnings("stdin", svc), nil
	}
	f, err := composefile.Load(in, env)
	if err != nil {
		return checkSource{}, nil, fmt.Errorf("%s: %w", in, err)
	}
	src := checkSource{Source: in}
	warnings := make([]string, 0, len(f.Warnings))
	for _, w := range f.Warnings {
		warnings = append(warnings, in+": "+w)
	}
	for _, s := range f.Services {
		svc := j.service(s.Name, s.Labels)
		src.Services = append(src.Services, svc)
		warnings = append(warnings, j.pinnedWarnings(in, svc)...)
		if len(s.DeployLabels) == 0 {
			continue
		}
		// A stack's deploy.labels are the Swarm service's own labels, which
		// main reads on a manager: judged as a claimant of their own.
		dsvc := j.service(s.Name+" (deploy.labels)", s.DeployLabels)
		src.Services = append(src.Services, dsvc)
		warnings = append(warnings, j.pinnedWarnings(in, dsvc)...)
		for _, d := range dsvc.DNS {
			if d.Target.Kind == labels.TargetContainer {
				warnings = append(warnings, fmt.Sprintf("%s: service %s: deploy.labels DNS record %s targets the container's address, which a Swarm service does not have: main never publishes it", in, s.Name, d.Hostname))
			}
		}
		if !svc.Empty() && !dsvc.Empty() {
			warnings = append(warnings, fmt.Sprintf("%s: service %s has Labelgate labels under both labels and deploy.labels; in a Swarm stack use deploy.labels only: "+
				"every task container on main's host would claim its labels too", in, s.Name))
		}
	}
	return src, warnings, nil
}

// pinnedWarnings notes templates a container defines differently from one
// pinned in main's configuration: main uses the pinned one (and reports a
// conflict).
func (j judge) pinnedWarnings(in string, svc checkService) []string {
	var out []string
	for _, t := range svc.Access {
		if pin, ok := j.cfg.Pinned[t.Name]; ok && !claims.SameTemplate(pin, t) {
			out = append(out, fmt.Sprintf("%s: service %s: access template %q is pinned in main's configuration (access.templates); main ignores this different definition", in, svc.Name, t.Name))
		}
	}
	return out
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
// templates referenced but defined nowhere in the inputs nor pinned in
// main's configuration.
func crossServiceWarnings(sources []checkSource, prefix string, pinned map[string]labels.AccessTemplate) []string {
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
		if _, ok := pinned[name]; !ok && !defined[name] {
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
	if len(rep.Notes) > 0 {
		fmt.Fprintln(w, "notes:")
		for _, n := range rep.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
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
