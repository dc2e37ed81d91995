package actors

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/labelgate/labelgate/bridge"
	"github.com/labelgate/labelgate/messages"
)

// fuzzSource is the agent whose snapshots FuzzRegistrySnapshot makes up. Main
// restricts it to fuzzScope and the tunnel "edge".
const fuzzSource = "agent:fuzz"

var fuzzScope = Scope{Hostnames: []string{"*.fuzz.example.com", "api.example.org"}, Tunnels: []string{"edge"}}

// inFuzzScope restates fuzzScope without the code under test: a name below
// fuzz.example.com (the wildcard name itself included), or api.example.org.
func inFuzzScope(host string) bool {
	const suffix = ".fuzz.example.com"
	return host == "api.example.org" || strings.HasSuffix(host, suffix) && len(host) > len(suffix)
}

// fuzzLocalSet is main's own engine: a protected route outside the agent's
// scope, a hostname inside it that main registered first, and the Access
// template "team".
func fuzzLocalSet() messages.ContainerSet {
	return messages.ContainerSet{Source: messages.LocalSource, Version: 1, Containers: []messages.Container{
		ctr("bank", t0.Add(-time.Hour), route("bank.example.com", "http://bank:80", "labelgate.tunnel.web.access", "team")...),
		ctr("shared", t0.Add(-time.Hour), route("shared.fuzz.example.com", "http://shared:80")...),
		ctr("policy", t0.Add(-time.Hour), "labelgate.access.team.policy.include.emails", "boss@example.com"),
	}}
}

// FuzzRegistrySnapshot is what main does with an agent's snapshot: the
// payload is decoded as the bridge does (a refused one leaves an empty set),
// one more container is built from fuzzed name, hostname and label, the set
// is bound to agent:fuzz and applied to a registry that already holds main's
// own containers. Properties:
//
//   - nothing panics;
//   - every claim, win, rule and record of the agent is inside its scope
//     (hostnames and tunnels), and main keeps the hostnames it registered
//     first;
//   - the agent's Access templates protect no hostname the agent does not
//     win (DESIGN §4: no source changes another source's protection);
//   - label errors name the container, and their keys are labels;
//   - the decisions are deterministic: the same sets applied to a fresh
//     registry give the same desired state, hostnames, label errors, events
//     and store writes;
//   - the same set sent again changes nothing, and announces nothing when
//     container names are unique;
//   - once the agent is gone and the grace has passed, it wins nothing but
//     retained hostnames.
func FuzzRegistrySnapshot(f *testing.F) {
	c := func(name string, kv ...string) messages.Container {
		return ctr(name, t0.Add(-time.Minute), kv...)
	}
	sets := [][]messages.Container{
		{c("web", route("app.fuzz.example.com", "http://web:80")...)},
		{c("web", route("bank.example.com", "http://web:80")...), c("api", "labelgate.dns.api.hostname", "api.example.org", "labelgate.dns.api.target", "203.0.113.5")},
		{c("steal", route("shared.fuzz.example.com", "http://steal:80")...), c("wild", route("*.fuzz.example.com", "http://wild:80")...)},
		{c("lab", append(route("lab.fuzz.example.com", "http://lab:80", "labelgate.tunnel.web.access", "lab"),
			"labelgate.access.lab.policy.include.everyone", "true", "labelgate.access.lab.policy.decision", "bypass")...)},
		{c("tun", route("t.fuzz.example.com", "http://t:80", "labelgate.tunnel.web.tunnel", "default")...)},
		{c("dns", "labelgate.dns.d.hostname", "fuzz.example.com", "labelgate.dns.d.target", "container", "labelgate.dns.e.hostname", "x.fuzz.example.com", "labelgate.dns.e.type", "CNAME", "labelgate.dns.e.target", "bank.example.com")},
		{c("bad", "labelgate.tunnel.web.hostname", "a.fuzz.example.com", "labelgate.tunnel.web.service", "ftp://x"), c("bad", route("b.fuzz.example.com", "http://b:80")...)},
		{c("", route("empty.fuzz.example.com", "http://e:80")...), c("cleanup", route("c.fuzz.example.com", "http://c:80", "labelgate.tunnel.web.cleanup", "true")...)},
		{},
	}
	strs := [][4]string{
		{"extra", "one.fuzz.example.com", "labelgate.tunnel.f.path", "^/api"},
		{"extra", "Bank.Example.Com.", "labelgate.tunnel.f.tunnel", "edge"},
		{"extra", "*.example.org", "labelgate.tunnel.f.access", "team"},
		{"extra", "two.fuzz.example.com", "labelgate.access.mine.policy.include.emails", "me@example.com"},
		{"web", "xn--bcher-kva.fuzz.example.com", "labelgate.dns.x.hostname", "api.example.org"},
		{"policy", "fuzz.example.com", "labelgate.dns.x.type", "TXT"},
		{"", "", "", ""},
	}
	for i, cs := range sets {
		payload, err := json.Marshal(messages.ContainerSet{Source: "agent:someone-else", Version: uint64(i + 1), Containers: cs, ObservedAt: t0})
		if err != nil {
			f.Fatal(err)
		}
		s := strs[i%len(strs)]
		f.Add(payload, s[0], s[1], s[2], s[3])
	}
	f.Add([]byte(`{"version":18446744073709551615,"containers":[{"name":"a","labels":{"labelgate.dns.a.hostname":"a.fuzz.example.com","labelgate.dns.a.target":"auto"}}]}`), "b", "b.fuzz.example.com", "labelgate.tunnel.f.cleanup", "true")
	f.Add([]byte(`{"version":0}`), "x", "x.fuzz.example.com", "", "")
	f.Add([]byte(`not json`), "y", "y.fuzz.example.com", "labelgate.tunnel.f.service", "https://y:443")

	f.Fuzz(func(t *testing.T, payload []byte, name, host, key, value string) {
		build := func() messages.ContainerSet {
			set := messages.ContainerSet{Version: 1}
			frame := fmt.Appendf(nil, `{"type":"snapshot","v":1,"seq":1,"payload":{"set":%s}}`, payload)
			if fr, err := bridge.DecodeFrame(frame); err == nil {
				set = fr.Body.(bridge.Snapshot).Set
			}
			set.Containers = append(set.Containers, ctr(name, t0.Add(-time.Minute),
				"labelgate.tunnel.f.hostname", host, "labelgate.tunnel.f.service", "http://f:80", key, value))
			set.Source = fuzzSource // what the bridge and the session do
			set.Version = min(set.Version, math.MaxUint64-1)
			return set
		}
		first := runRegistryFuzz(t, build)
		second := runRegistryFuzz(t, build)
		if diff := cmp.Diff(first, second); diff != "" {
			t.Fatalf("the same sets on a fresh registry decided differently (-first +second):\n%s", diff)
		}
	})
}

// registryOutcome is everything a registry decided, in comparable form.
type registryOutcome struct {
	Desired, States, LabelErrors string
	Events, Writes               []string
	Gone                         string // the desired state after the agent left
}

func runRegistryFuzz(t *testing.T, build func() messages.ContainerSet) registryOutcome {
	t.Helper()
	cfg := testClaimConfig()
	cfg.Scopes = map[string]Scope{fuzzSource: fuzzScope}
	cfg.AgentDefaults = map[string]string{fuzzSource: "edge"}
	r := newRegistryState(cfg, grace, []string{messages.LocalSource, fuzzSource})
	local := fuzzLocalSet()
	if !r.applySet(local, t0) {
		t.Fatal("main's own set was refused")
	}
	localWins := map[string]bool{}
	for _, hs := range r.hostnameStates() {
		localWins[slotKey(hs.Hostname, hs.Path)] = true
	}
	if _, events := r.drain(); len(events) != 2 { // two hostnames created
		t.Fatalf("main's own set: want two created events, got %+v", events)
	}

	set := build()
	if !r.applySet(set, t0.Add(time.Second)) {
		t.Fatalf("the agent's first set (version %d) was refused", set.Version)
	}
	writes, events := r.drain()
	checkRegistryFuzz(t, r, set, events, localWins)
	out := registryOutcome{
		Desired:     jsonString(t, r.desired()),
		States:      jsonString(t, r.hostnameStates()),
		LabelErrors: jsonString(t, r.labelErrors()),
		Events:      eventStrings(events),
		Writes:      writeStrings(writes),
	}

	// Level-triggered: the same set again is no news.
	again := build()
	again.Version = set.Version + 1
	if !r.applySet(again, t0.Add(2*time.Second)) {
		t.Fatalf("the agent's set of version %d was refused", again.Version)
	}
	writes, events = r.drain()
	checkRegistryFuzz(t, r, again, events, localWins)
	if got := jsonString(t, r.desired()); got != out.Desired {
		t.Fatalf("the same set sent again changed the desired state:\n got %s\nwant %s", got, out.Desired)
	}
	if got := jsonString(t, r.hostnameStates()); got != out.States {
		t.Fatalf("the same set sent again changed the hostnames:\n got %s\nwant %s", got, out.States)
	}
	if uniqueNames(set) && (len(events) > 0 || len(writes) > 0) {
		t.Fatalf("the same set sent again announced events %q and writes %q", eventStrings(events), writeStrings(writes))
	}

	// The agent goes away for good; after the grace it holds nothing but
	// what it retains.
	gone := t0.Add(3 * time.Second)
	r.setSourceStatus(fuzzSource, sourceGone, gone)
	r.markSettled(gone)
	r.tick(gone.Add(grace))
	_, events = r.drain()
	checkRegistryFuzz(t, r, messages.ContainerSet{Source: fuzzSource}, events, localWins)
	for _, hs := range r.hostnameStates() {
		if hs.Winner.Source == fuzzSource && hs.State != hostRetained {
			t.Fatalf("after the gone agent's grace, %s is still %s for %s", hs.Hostname, hs.State, hs.Winner)
		}
	}
	out.Gone = jsonString(t, r.desired())
	return out
}

// checkRegistryFuzz checks what must hold after every step; set is the
// agent's set just applied and events what the step announced.
func checkRegistryFuzz(t *testing.T, r *registryState, set messages.ContainerSet, events []Event, localWins map[string]bool) {
	t.Helper()
	for slot, m := range r.claims {
		host, _ := splitSlot(slot)
		for k := range m {
			if k.Source == fuzzSource && !inFuzzScope(host) {
				t.Fatalf("the agent has a claim on %s, outside its scope", host)
			}
		}
	}
	for _, hs := range r.hostnameStates() {
		if hs.Winner.Source == fuzzSource && !inFuzzScope(hs.Hostname) {
			t.Fatalf("the agent wins %s, outside its scope", hs.Hostname)
		}
		if localWins[slotKey(hs.Hostname, hs.Path)] && hs.Winner.Source != messages.LocalSource {
			t.Fatalf("%s, registered first by main, is won by %s", hs.Hostname, hs.Winner)
		}
	}
	ds := r.desired()
	for name, tun := range ds.Tunnels {
		for _, rule := range tun.Rules {
			if rule.Owner.Source != fuzzSource {
				continue
			}
			if !inFuzzScope(rule.Hostname) || name != "edge" {
				t.Fatalf("the agent's rule for %s is in tunnel %s, outside its scope", rule.Hostname, name)
			}
		}
	}
	for _, rec := range ds.Records {
		if rec.Owner.Source == fuzzSource && !inFuzzScope(rec.Name) {
			t.Fatalf("the agent's %s record %s is outside its scope", rec.Type, rec.Name)
		}
	}
	// An app's domain is its slot's hostname, plus the Access path of a
	// route slot: its winner is the winner of that slot.
	appWinner := map[string]string{}
	for _, st := range r.hosts {
		if st.spec.App != nil {
			appWinner[st.spec.App.Hostname] = st.winner.Source
		}
	}
	for _, app := range ds.Apps {
		if app.Owner.Source == fuzzSource && appWinner[app.Hostname] != fuzzSource {
			t.Fatalf("the agent's Access template %q defines the policy of %s, which %s won (policy %+v)",
				app.Template, app.Hostname, orNobody(appWinner[app.Hostname]), app.Policy)
		}
	}

	names := map[string]bool{}
	for _, c := range set.Containers {
		names[c.Name] = true
	}
	for _, e := range events {
		if e.Kind != "label_error" {
			continue
		}
		if e.Container == "" && e.Source == fuzzSource && strings.HasPrefix(e.Message, fuzzSource+": ") && strings.Contains(e.Message, "more label errors") {
			continue // the summary of the errors over the source's budget
		}
		named := strings.HasPrefix(e.Message, "container "+e.Container+": ") || strings.HasPrefix(e.Message, "Swarm service "+e.Container+": ")
		if e.Source != fuzzSource || !names[e.Container] || !named {
			t.Fatalf("label error %+v does not name a container of the agent's set", e)
		}
	}
	for _, rep := range r.labelErrors() {
		if rep.Container == "" && rep.Dropped > 0 {
			continue // the source's closing count of errors not listed
		}
		if rep.Source == fuzzSource && !names[rep.Container] && len(set.Containers) > 0 {
			t.Fatalf("label errors of %q, which is not in the agent's set", rep.Container)
		}
		if len(rep.Errors) > maxErrorsPerContainer {
			t.Fatalf("%d label errors kept for %s, more than %d", len(rep.Errors), rep.Container, maxErrorsPerContainer)
		}
		for _, e := range rep.Errors {
			if !strings.HasPrefix(e.Key, "labelgate.") || e.Message == "" {
				t.Fatalf("label error of %s names no label: %+v", rep.Container, e)
			}
		}
	}
}

func orNobody(source string) string {
	if source == "" {
		return "nobody"
	}
	return source
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encoding %T: %v", v, err)
	}
	return string(b)
}

// eventStrings lists events as text, sorted: the order of events within one
// step is not part of the decision.
func eventStrings(events []Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, fmt.Sprintf("%s %s %s %s/%s: %s", e.Level, e.Kind, e.Hostname, e.Source, e.Container, e.Message))
	}
	slices.Sort(out)
	return out
}

func writeStrings(writes []storeWrite) []string {
	var out []string
	for _, w := range writes {
		switch {
		case w.putClaim != nil:
			out = append(out, fmt.Sprintf("put claim %+v", *w.putClaim))
		case w.deleteClaim != nil:
			out = append(out, fmt.Sprintf("delete claim %+v", *w.deleteClaim))
		case w.putHost != nil:
			h := *w.putHost
			out = append(out, fmt.Sprintf("put host %s %s/%s %s %s %s", h.Hostname, h.WinnerSource, h.WinnerContainer, h.State, h.DueAt, h.Spec))
		default:
			out = append(out, "delete host "+w.deleteHost)
		}
	}
	slices.Sort(out)
	return out
}

func uniqueNames(set messages.ContainerSet) bool {
	seen := map[string]bool{}
	for _, c := range set.Containers {
		if seen[c.Name] {
			return false
		}
		seen[c.Name] = true
	}
	return true
}
