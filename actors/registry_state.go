package actors

import (
	"cmp"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/labelgate/labelgate/claims"
	"github.com/labelgate/labelgate/labels"
	"github.com/labelgate/labelgate/messages"
	"github.com/labelgate/labelgate/store"
)

// registryState is the registry's decision logic, free of actors and I/O:
// the registry actor feeds it container sets, source changes and the clock,
// and sends on what it returns. Every conflict decision of DESIGN §4 is made
// here.
//
// Per hostname (one winner across every source and kind):
//
//	winner present             → active: its current spec is desired
//	winner's source frozen     → frozen: its last spec stays desired
//	winner gone, before due    → leaving: its last spec stays desired
//	winner gone, at due        → best present claimant promoted in place,
//	                             else cleanup=true parts dropped and the
//	                             rest retained (or the hostname forgotten)
//	retained, claimant appears → that claimant wins at once
//
// The grace (due = gone time + removeDelay) is keyed on the hostname: a
// winner that comes back before due changes nothing.
type registryState struct {
	cfg         ClaimConfig
	removeDelay time.Duration

	sources map[string]*sourceState
	claims  map[string]map[claimKey]*claimant // hostname → claimants
	hosts   map[string]*hostState
	// protected are the domains (hostname, or hostname/path) that have one
	// of Labelgate's Access applications now, as the access actor last
	// said; the routes of other protected hostnames are held.
	protected map[string]bool
	// reports are the containers' latest reports, without their Hosts
	// (the claimants hold those specs; keeping both doubled the memory).
	reports map[claimKey]ContainerReport
	// epoch numbers rebuilds: a claimant whose mark is not the current
	// epoch after its source's rebuild was not in the set.
	epoch uint64
	// templates are the Access templates each source defines, by source
	// and name: a template protects only the hostnames of its own source
	// (see template). Pinned ones (main's configuration) are in cfg.
	templates map[string]map[string]templateEntry
	ips       map[string]PublicIPs // by source; "" = main's own

	lastSets map[string]messages.ContainerSet // the latest set per reported source
	// bySource indexes the slots each source has claimants for, so a set
	// only revisits its own slots.
	bySource map[string]map[string]bool
	// slots indexes the slots of each hostname (claimed or decided, now or
	// before), so a decision revisits its siblings.
	slots map[string]map[string]bool
	// changed is set when a hostname's decision changed since the last
	// drain: only then is the desired state rebuilt.
	changed  bool
	reported map[reportedConflict]bool // conflicts already announced
	tplClash map[tplKey]bool           // templates defined differently within a source, or against a pin
	// errBudget bounds the label_error events (and so log lines) a source
	// can cause; held counts the ones over budget, for a summary.
	errBudget map[string]*rate.Limiter
	errHeld   map[string]int
	// decisionLimit and decisionsHeld do the same for an agent's decision
	// events.
	decisionLimit map[string]*rate.Limiter
	decisionsHeld map[string]int

	settled bool

	// Collected side effects for the actor to send on.
	writes []storeWrite
	events []Event
}

// Source statuses.
const (
	sourceUnknown  = "unknown"  // not reported since start: claims frozen
	sourceReported = "reported" // its latest set is the truth
	sourceFrozen   = "frozen"   // disconnected: claims frozen
	sourceGone     = "gone"     // stale or decommissioned: claims leave
	sourceRevoked  = "revoked"  // decommissioned: gone, and its sets are refused
)

type sourceState struct {
	status  string
	version uint64
	since   time.Time
}

// Hostname states.
const (
	hostActive   = messages.HostActive
	hostLeaving  = messages.HostLeaving
	hostRetained = messages.HostRetained
)

type hostState struct {
	winner claimKey
	state  messages.HostState
	due    time.Time
	spec   hostSpec
	// sig is the last persisted form; a decision that changes nothing is
	// neither written nor sent on.
	sig [sha256.Size]byte
}

type templateEntry struct {
	tpl   labels.AccessTemplate
	owner claimKey
}

// tplKey names a template within a source.
type tplKey struct{ source, name string }

// PinnedSource is the owner of templates pinned in main's configuration.
const PinnedSource = "config"

// Event is one decision worth an operator's attention: logged once and
// appended to the store's event log. Kinds the registry uses: created,
// updated, leaving, returned, promoted, deleted, retained, conflict,
// label_error.
type Event = store.Event

// storeWrite is one persistence operation the registry asks for.
type storeWrite struct {
	putClaim    *store.Claim
	deleteClaim *store.Claim
	putHost     *store.HostnameState
	deleteHost  string
}

func newRegistryState(cfg ClaimConfig, removeDelay time.Duration, sources []string) *registryState {
	r := &registryState{
		cfg: cfg, removeDelay: removeDelay,
		sources:   map[string]*sourceState{},
		claims:    map[string]map[claimKey]*claimant{},
		hosts:     map[string]*hostState{},
		reports:   map[claimKey]ContainerReport{},
		templates: map[string]map[string]templateEntry{},
		ips:       map[string]PublicIPs{},
		lastSets:  map[string]messages.ContainerSet{},
		bySource:  map[string]map[string]bool{}, slots: map[string]map[string]bool{},
		reported:  map[reportedConflict]bool{},
		tplClash:  map[tplKey]bool{},
		errBudget: map[string]*rate.Limiter{},
		errHeld:   map[string]int{},

		decisionLimit: map[string]*rate.Limiter{},
		decisionsHeld: map[string]int{},
	}
	for _, s := range sources {
		r.sources[s] = &sourceState{status: sourceUnknown}
	}
	return r
}

// load restores persisted claims and hostname decisions; it runs once,
// before any container set.
func (r *registryState) load(claims []store.Claim, hosts []store.HostnameState) error {
	for _, c := range claims {
		r.claimant(c.Hostname, claimKey{c.Source, c.Container}).registered = c.RegisteredAt
		r.source(c.Source)
	}
	r.changed = true
	for _, h := range hosts {
		var spec hostSpec
		if err := json.Unmarshal(h.Spec, &spec); err != nil {
			return fmt.Errorf("decoding the stored spec of %s: %w", h.Hostname, err)
		}
		st := &hostState{winner: claimKey{h.WinnerSource, h.WinnerContainer}, state: messages.HostState(h.State), due: h.DueAt, spec: spec}
		st.sig, _ = st.signature() // as stored: deciding the same again writes nothing
		r.hosts[h.Hostname] = st
		r.indexSlot(h.Hostname)
		r.source(h.WinnerSource)
	}
	return nil
}

func (r *registryState) source(name string) *sourceState {
	s := r.sources[name]
	if s == nil {
		s = &sourceState{status: sourceUnknown}
		r.sources[name] = s
	}
	return s
}

func (r *registryState) claimant(host string, k claimKey) *claimant {
	m := r.claims[host]
	if m == nil {
		m = map[claimKey]*claimant{}
		r.claims[host] = m
	}
	c := m[k]
	if c == nil {
		c = &claimant{key: k}
		m[k] = c
		r.indexSlot(host)
		if r.bySource[k.Source] == nil {
			r.bySource[k.Source] = map[string]bool{}
		}
		r.bySource[k.Source][host] = true
	}
	return c
}

// applySet takes a source's full container set. It returns false when the
// set is stale (not newer than the last one applied).
func (r *registryState) applySet(set messages.ContainerSet, now time.Time) bool {
	src := r.source(set.Source)
	if src.status == sourceRevoked || (src.status == sourceReported && set.Version <= src.version) {
		return false
	}
	src.status, src.version, src.since = sourceReported, set.Version, now
	r.lastSets[set.Source] = r.relevant(set)
	affected, templates := r.rebuild(set.Source, now)
	if templates {
		// A source's templates protect only its own hostnames, all of
		// which are among those it claims (affected).
		r.rebuildTemplates(set.Source, now)
	}
	r.decideHosts(affected, now)
	r.summarizeLabelErrors(now)
	return true
}

// relevant keeps of a set what the registry decides with: the labels under
// the prefix (the parser looks at nothing else). A source's other labels —
// compose's dozen per container, or a hostile agent's filler — are not
// kept for the life of the set.
func (r *registryState) relevant(set messages.ContainerSet) messages.ContainerSet {
	prefix := cmp.Or(r.cfg.Labels.Prefix, labels.DefaultPrefix) + "."
	out := set
	out.Containers = make([]messages.Container, len(set.Containers))
	for i, c := range set.Containers {
		kept := make(map[string]string)
		for k, v := range c.Labels {
			if strings.HasPrefix(k, prefix) {
				kept[k] = v
			}
		}
		c.Labels = kept
		out.Containers[i] = c
	}
	return out
}

// rebuild recomputes a reported source's claims from its latest set. It
// returns the hostnames the source claims now or claimed before, and
// whether Access templates were involved (before or after).
func (r *registryState) rebuild(source string, now time.Time) (map[string]bool, bool) {
	set := r.lastSets[source]
	affected := map[string]bool{}
	for h := range r.bySource[source] {
		affected[h] = true
	}
	templates := false
	for k, rep := range r.reports {
		if k.Source == source && len(rep.Templates) > 0 {
			templates = true
		}
	}
	seen := map[claimKey]bool{}
	r.epoch++
	dups := map[string]int{}
	kinds := map[string]string{}  // of the first member of each name
	shadowed := map[string]bool{} // a container behind a Swarm service of its name
	for _, c := range set.Containers {
		k := claimKey{set.Source, c.Name}
		if seen[k] {
			// Docker names are unique per host among containers and among
			// services; a container and a Swarm service may share one. The
			// watcher sorts the service first, so it is the one that counts,
			// every time; otherwise only a broken or hostile agent repeats a
			// name, and the first member of the name counts.
			if c.Kind != kinds[c.Name] {
				shadowed[c.Name] = true
			} else {
				dups[c.Name]++
			}
			continue
		}
		seen[k] = true
		kinds[c.Name] = c.Kind
		rep := buildClaims(set.Source, c, r.cfg, r.ipsFor(set.Source))
		if n := len(rep.Errors); n > maxErrorsPerContainer {
			rep.Errors, rep.Dropped = rep.Errors[:maxErrorsPerContainer:maxErrorsPerContainer], n-maxErrorsPerContainer
		}
		for i, e := range rep.Errors {
			// Messages quote the label's value: a megabyte value must not
			// become a megabyte log line, event and API answer.
			e.Key, e.Message = clip(e.Key, maxErrorKey), clip(e.Message, maxErrorMessage)
			rep.Errors[i] = e
		}
		old, had := r.reports[k]
		hosts := rep.Hosts
		rep.Hosts = nil
		r.reports[k] = rep
		r.reportLabelErrors(old, had, rep, now)
		templates = templates || len(rep.Templates) > 0
		for host, spec := range hosts {
			affected[host] = true
			cl := r.claimant(host, k)
			if cl.registered.IsZero() {
				cl.registered = now
				r.writes = append(r.writes, storeWrite{putClaim: &store.Claim{Hostname: host, Source: k.Source, Container: k.Container, RegisteredAt: now}})
			}
			cl.created, cl.spec, cl.known, cl.missing, cl.mark = c.Created, spec, true, time.Time{}, r.epoch
		}
	}
	for _, name := range slices.Sorted(maps.Keys(dups)) {
		if r.errorBudget(source).AllowN(now, 1) {
			r.events = append(r.events, Event{At: now, Level: "error", Kind: "label_error", Source: source, Container: name,
				Message: fmt.Sprintf("%s: the set holds %d more containers or Swarm services of this name; only the first is used", messages.Container{Kind: kinds[name], Name: name}.Noun(), dups[name])})
		} else {
			r.errHeld[source]++
		}
	}
	for _, name := range slices.Sorted(maps.Keys(shadowed)) {
		if r.errorBudget(source).AllowN(now, 1) {
			r.events = append(r.events, Event{At: now, Level: "error", Kind: "label_error", Source: source, Container: name,
				Message: fmt.Sprintf("%s: a container and a Swarm service of this source share the name; only the %s's labels are used: rename one of them",
					messages.Container{Kind: kinds[name], Name: name}.Noun(), map[bool]string{true: "service", false: "first member"}[kinds[name] == messages.KindService])})
		} else {
			r.errHeld[source]++
		}
	}
	for k := range r.reports {
		if k.Source == source && !seen[k] {
			delete(r.reports, k)
		}
	}
	// Claims of this source that the set no longer carries are missing.
	for host := range r.bySource[source] {
		for k, cl := range r.claims[host] {
			if k.Source != source {
				continue
			}
			if cl.mark != r.epoch && cl.missing.IsZero() {
				cl.missing = now
			}
		}
	}
	return affected, templates
}

// setSourceStatus marks a source frozen (disconnected), gone (stale) or
// revoked (decommissioned: gone, and its sets refused until enableSource).
// A gone source's claims start their grace now. Only enableSource lifts a
// revocation.
func (r *registryState) setSourceStatus(source, status string, now time.Time) {
	src := r.source(source)
	if src.status == status || (src.status == sourceRevoked && status != sourceRevoked) {
		return
	}
	prev := src.status
	src.status, src.since = status, now
	if (status == sourceGone || status == sourceRevoked) && prev != sourceGone {
		for _, m := range r.claims {
			for k, cl := range m {
				if k.Source == source && cl.missing.IsZero() {
					cl.missing = now
				}
			}
		}
		for k := range r.reports {
			if k.Source == source {
				delete(r.reports, k)
			}
		}
		delete(r.lastSets, source)
		r.rebuildTemplates(source, now)
	}
	r.decideAll(now)
}

// enableSource lifts a source's revocation: it is gone until its next set.
func (r *registryState) enableSource(source string, now time.Time) {
	if src := r.source(source); src.status == sourceRevoked {
		src.status, src.since = sourceGone, now
	}
}

// setPublicIPs records the public addresses of a source ("" = main) and
// re-resolves the claims that use them.
func (r *registryState) setPublicIPs(source string, ips PublicIPs, now time.Time) bool {
	if cur, ok := r.ips[source]; ok && cur == ips {
		return false
	}
	r.ips[source] = ips
	for _, name := range slices.Sorted(maps.Keys(r.lastSets)) {
		r.rebuild(name, now)
	}
	r.decideAll(now)
	return true
}

func (r *registryState) ipsFor(source string) PublicIPs {
	own, mine := r.ips[source]
	if source == messages.LocalSource || !mine {
		return r.ips[""]
	}
	return own
}

// present reports whether a claimant may hold a hostname now: its container
// is in its source's latest set, or its source is unknown/frozen (its claims
// are frozen, neither present nor gone).
func (r *registryState) presence(cl *claimant) (present, frozen bool) {
	src := r.sources[cl.key.Source]
	switch {
	case src == nil || src.status == sourceUnknown || src.status == sourceFrozen:
		return cl.missing.IsZero(), cl.missing.IsZero()
	case src.status == sourceGone || src.status == sourceRevoked:
		return false, false
	}
	return cl.missing.IsZero(), false
}

// decideAll revisits every hostname; decisions are deterministic because
// hostnames are visited in order and ties are broken by claimant order.
func (r *registryState) decideAll(now time.Time) {
	hosts := map[string]bool{}
	for h := range r.claims {
		hosts[h] = true
	}
	for h := range r.hosts {
		hosts[h] = true
	}
	r.decideHosts(hosts, now)
}

// decideHosts revisits the given slots and their siblings (the other slots
// of their hostnames, whose claimants a decision may block or release), in
// order.
func (r *registryState) decideHosts(hosts map[string]bool, now time.Time) {
	all := maps.Clone(hosts)
	for slot := range hosts {
		h, _ := splitSlot(slot)
		for s := range r.slots[h] {
			all[s] = true
		}
	}
	for _, h := range slices.Sorted(maps.Keys(all)) {
		r.decide(h, now)
	}
	r.forgetMissing(all, now)
}

// mayShare reports whether a source may hold slots of a hostname beside
// another source's: main's own containers, and agents that main's
// configuration allows named hostnames (their scope has already refused
// every claim outside them). An agent without a hostname scope may claim
// whole hostnames nobody holds, and paths of its own hostnames, but never
// a path of another source's hostname: path rules match before the
// path-less rule, so that would take part of what the other source
// publishes.
func (r *registryState) mayShare(source string) bool {
	if source == messages.LocalSource {
		return true
	}
	return len(r.cfg.Scopes[source].Hostnames) > 0
}

// indexSlot records a slot under its hostname.
func (r *registryState) indexSlot(slot string) {
	h, _ := splitSlot(slot)
	if r.slots[h] == nil {
		r.slots[h] = map[string]bool{}
	}
	r.slots[h][slot] = true
}

// blocked says why cl may not take slot now: a sibling slot of the
// hostname is held by a claim it cannot stand beside (another tunnel, or
// DNS records beside routes). "" when it may.
func (r *registryState) blocked(slot string, cl *claimant) string {
	h, _ := splitSlot(slot)
	for _, s := range slices.Sorted(maps.Keys(r.slots[h])) {
		if s == slot {
			continue
		}
		st := r.hosts[s]
		if st == nil {
			continue
		}
		if st.winner.Source != cl.key.Source && (!r.mayShare(cl.key.Source) || !r.mayShare(st.winner.Source)) {
			return fmt.Sprintf("%s holds %s; sources share a hostname by path only when each is main or an agent whose allowed_hostnames covers it", st.winner, s)
		}
		if compatible(st.spec, cl.spec) {
			continue
		}
		if len(st.spec.Rules) > 0 && len(cl.spec.Rules) > 0 {
			return fmt.Sprintf("%s holds %s through tunnel %q, and one hostname's CNAME points at one tunnel", st.winner, s, st.spec.Tunnel)
		}
		return fmt.Sprintf("%s holds %s, and a tunnel hostname has no DNS records but its CNAME", st.winner, s)
	}
	return ""
}

// best returns the first claimant in line that is present and whose spec is
// known in this run (a claim restored from the store has no spec until its
// source reports).
func (r *registryState) best(host string, except claimKey) *claimant {
	var top *claimant
	for _, cl := range r.claims[host] {
		if cl.key == except || !cl.known {
			continue
		}
		if present, frozen := r.presence(cl); !present || frozen {
			continue
		}
		if r.blocked(host, cl) != "" {
			continue
		}
		if top == nil || cl.before(top) {
			top = cl
		}
	}
	return top
}

func (r *registryState) decide(host string, now time.Time) {
	st := r.hosts[host]
	if st == nil {
		top := r.best(host, claimKey{})
		if top == nil {
			r.reportBlocked(host, now)
			return
		}
		st = &hostState{winner: top.key, state: hostActive, spec: r.withApp(host, top.key, top.spec, hostSpec{})}
		r.hosts[host] = st
		r.persistHost(host, st, now)
		r.event(now, "info", "created", host, top.key, fmt.Sprintf("%s claims %s (%s)", top.key, host, joinKinds(st.spec)))
		r.reportQueue(host, st, now)
		return
	}

	win := r.claims[host][st.winner]
	present, frozen := false, false
	if win != nil {
		present, frozen = r.presence(win)
	}
	switch {
	case present && st.state == hostRetained:
		// The retained objects' claimant is back: it wins again.
		fallthrough
	case present:
		prev := st.state
		st.state, st.due = hostActive, time.Time{}
		if !frozen && win.known {
			spec := r.withApp(host, st.winner, win.spec, st.spec)
			if !spec.equal(st.spec) {
				r.event(now, "info", "updated", host, st.winner, fmt.Sprintf("%s changed its labels for %s", st.winner, host))
			}
			// Equal or not, hold the claimant's spec: a spec restored from
			// the store is then not kept as a second copy.
			st.spec = spec
		}
		if prev == hostLeaving {
			r.event(now, "info", "returned", host, st.winner, fmt.Sprintf("%s is back before its grace ended; nothing is removed from %s", st.winner, host))
		}
		r.persistHost(host, st, now)
	case st.state == hostRetained:
		if top := r.best(host, claimKey{}); top != nil {
			st.winner, st.state = top.key, hostActive
			// No carry-over of the old winner's app: a protection is
			// resolved from the new winner's own templates.
			st.spec = r.withApp(host, top.key, top.spec, hostSpec{})
			r.persistHost(host, st, now)
			r.event(now, "info", "promoted", host, top.key, fmt.Sprintf("%s takes over the retained hostname %s", top.key, host))
		}
	default: // the winner is gone
		if st.state != hostLeaving {
			gone := now
			if win != nil && !win.missing.IsZero() {
				gone = win.missing
			}
			st.state, st.due = hostLeaving, gone.Add(r.removeDelay)
			r.persistHost(host, st, now)
			then := st.spec.fate()
			if top := r.best(host, st.winner); top != nil {
				then = top.key.String() + ", first in the queue, takes it over in place"
			}
			if !r.settled {
				then += " (not before every source has reported)"
			}
			r.event(now, "warn", "leaving", host, st.winner, fmt.Sprintf("%s no longer claims %s; its objects stay until %s, then %s", st.winner, host, st.due.UTC().Format(time.RFC3339), then))
		}
		if now.Before(st.due) || !r.settled {
			return
		}
		if top := r.best(host, st.winner); top != nil {
			old := st.winner
			st.winner, st.state, st.due = top.key, hostActive, time.Time{}
			st.spec = r.withApp(host, top.key, top.spec, hostSpec{})
			r.persistHost(host, st, now)
			r.event(now, "info", "promoted", host, top.key, fmt.Sprintf("%s takes %s over from %s after the grace, in place", top.key, host, old))
			return
		}
		kept := st.spec.retainedPart()
		if kept.empty() {
			delete(r.hosts, host)
			r.changed = true
			r.writes = append(r.writes, storeWrite{deleteHost: host})
			r.event(now, "info", "deleted", host, st.winner, fmt.Sprintf("the grace for %s ended; its objects (cleanup=true) are deleted", host))
			return
		}
		st.state, st.due, st.spec = hostRetained, time.Time{}, kept
		r.persistHost(host, st, now)
		r.event(now, "info", "retained", host, st.winner, fmt.Sprintf("the grace for %s ended; objects with cleanup=false are kept in Cloudflare", host))
	}
	r.reportQueue(host, st, now)
}

// forgetMissing drops claims of the given hostnames that have been missing
// longer than the grace and are not a hostname's winner (winners are kept
// with their hostname).
func (r *registryState) forgetMissing(hosts map[string]bool, now time.Time) {
	for host := range hosts {
		m := r.claims[host]
		for k, cl := range m {
			if cl.missing.IsZero() || now.Sub(cl.missing) < r.removeDelay {
				continue
			}
			if st := r.hosts[host]; st != nil && st.winner == k {
				continue
			}
			delete(m, k)
			delete(r.reported, reportedConflict{host, k})
			if idx := r.bySource[k.Source]; idx != nil && !r.claimsOf(host, k.Source) {
				delete(idx, host)
			}
			r.writes = append(r.writes, storeWrite{deleteClaim: &store.Claim{Hostname: host, Source: k.Source, Container: k.Container}})
		}
		if len(m) == 0 {
			delete(r.claims, host)
		}
	}
}

// withApp resolves the Access template a spec binds into its app. The
// template comes from main's configuration (pinned) or from the winner's own
// source, never from another source: no source can change the protection of
// a hostname another source publishes. A template the source no longer
// defines keeps its last content (from prev, the same winner's last spec),
// so a protected route never silently loses its protection.
func (r *registryState) withApp(host string, winner claimKey, spec, prev hostSpec) hostSpec {
	spec.App = nil
	if spec.Access == "" {
		return spec
	}
	if t, ok := r.template(winner.Source, spec.Access); ok {
		h, _ := splitSlot(host)
		spec.App = desiredApp(h+spec.AccessPath, t.tpl, t.owner)
	} else if prev.App != nil && prev.Access == spec.Access && (prev.App.Owner.Source == winner.Source || prev.App.Owner.Source == PinnedSource) {
		// Only the winner's own (or a pinned) template's last content: a
		// spec stored when templates were global may hold another
		// source's, which must not protect this hostname.
		spec.App = prev.App
	}
	return spec
}

// template finds the template name for a hostname won by source: pinned in
// main's configuration, else defined by the source itself.
func (r *registryState) template(source, name string) (templateEntry, bool) {
	if t, ok := r.cfg.Pinned[name]; ok {
		return templateEntry{tpl: t, owner: claimKey{Source: PinnedSource}}, true
	}
	t, ok := r.templates[source][name]
	return t, ok
}

// definedElsewhere lists the other sources that define a template name, for
// the message of a withheld hostname.
func (r *registryState) definedElsewhere(source, name string) []string {
	var out []string
	for _, src := range slices.Sorted(maps.Keys(r.templates)) {
		if _, ok := r.templates[src][name]; ok && src != source {
			out = append(out, src)
		}
	}
	return out
}

// policyName is the Cloudflare name of a template's reusable policy. An
// agent's templates are its own, so their policies carry the agent's name: two
// agents that define a template of the same name get two policies, and
// neither can change the other's. Main's own (local and pinned) keep the name
// as written.
func policyName(name, source string) string {
	agent, ok := strings.CutPrefix(source, "agent:")
	if !ok {
		return name
	}
	return name + " (agent " + agent + ")"
}

func desiredApp(host string, t labels.AccessTemplate, owner claimKey) *messages.DesiredApp {
	conv := func(rs []labels.AccessRule) []messages.AccessRule {
		out := make([]messages.AccessRule, 0, len(rs))
		for _, r := range rs {
			out = append(out, messages.AccessRule{Selector: r.Selector, Value: r.Value})
		}
		return out
	}
	return &messages.DesiredApp{
		Hostname: host, Name: t.AppName, SessionDuration: t.SessionDuration, Template: t.Name,
		Policy: messages.DesiredPolicy{Name: policyName(t.Policy.Name, owner.Source), Decision: t.Policy.Decision,
			Include: conv(t.Policy.Include), Require: conv(t.Policy.Require), Exclude: conv(t.Policy.Exclude)},
		Owner: messages.Owner{Source: owner.Source, Container: owner.Container, Service: t.Name},
	}
}

// rebuildTemplates recomputes the templates one source defines: per name,
// the definition of its first container in name order. A name defined
// differently by two containers of the source, or differently from a
// template pinned in main's configuration, is reported once as a conflict;
// the pinned definition, or the first one, is used.
func (r *registryState) rebuildTemplates(source string, now time.Time) {
	next := map[string]templateEntry{}
	keys := slices.SortedFunc(maps.Keys(r.reports), func(a, b claimKey) int {
		return cmp.Compare(a.Container, b.Container)
	})
	clash := map[tplKey]bool{}
	for _, k := range keys {
		if k.Source != source {
			continue
		}
		for _, t := range r.reports[k].Templates {
			key := tplKey{source, t.Name}
			if pin, ok := r.cfg.Pinned[t.Name]; ok {
				if !claims.SameTemplate(pin, t) {
					clash[key] = true
					if !r.tplClash[key] {
						r.event(now, "warn", "conflict", "", k, fmt.Sprintf("access template %q is pinned in main's configuration; the different definition on %s is ignored", t.Name, k))
					}
				}
				continue
			}
			cur, ok := next[t.Name]
			if !ok {
				next[t.Name] = templateEntry{tpl: t, owner: k}
				continue
			}
			if !claims.SameTemplate(cur.tpl, t) {
				clash[key] = true
				if !r.tplClash[key] {
					r.event(now, "warn", "conflict", "", k, fmt.Sprintf("access template %q is defined differently by %s and %s; the definition of %s is used", t.Name, cur.owner, k, cur.owner))
				}
			}
		}
	}
	for key := range r.tplClash {
		if key.source == source && !clash[key] {
			delete(r.tplClash, key)
		}
	}
	for key := range clash {
		r.tplClash[key] = true
	}
	if len(next) == 0 {
		delete(r.templates, source)
		return
	}
	r.templates[source] = next
}

// claimsOf reports whether source still has a claimant for host.
func (r *registryState) claimsOf(host, source string) bool {
	for k := range r.claims[host] {
		if k.Source == source {
			return true
		}
	}
	return false
}

// signature is a digest of a hostname decision as persisted (a digest,
// not the row: at 20,000 hostnames the rows held as text cost 30 MB).
func (st *hostState) signature() ([sha256.Size]byte, []byte) {
	spec, _ := json.Marshal(st.spec)
	return sha256.Sum256(fmt.Appendf(nil, "%s|%s|%s|%d|%s", st.winner.Source, st.winner.Container, st.state, st.due.UnixNano(), spec)), spec
}

func (r *registryState) persistHost(host string, st *hostState, now time.Time) {
	sig, spec := st.signature()
	if sig == st.sig {
		return
	}
	st.sig = sig
	r.changed = true
	r.writes = append(r.writes, storeWrite{putHost: &store.HostnameState{
		Hostname: host, WinnerSource: st.winner.Source, WinnerContainer: st.winner.Container,
		State: string(st.state), DueAt: st.due, Spec: spec, UpdatedAt: now,
	}})
}

// reportQueue emits one conflict event per new loser of a hostname.
func (r *registryState) reportQueue(host string, st *hostState, now time.Time) {
	for _, cl := range r.claims[host] {
		if cl.key == st.winner || !cl.known || cl.spec.empty() {
			continue
		}
		if present, _ := r.presence(cl); !present {
			continue
		}
		if !cl.missing.IsZero() {
			continue
		}
		if r.reported[reportedConflict{host, cl.key}] {
			continue
		}
		r.reported[reportedConflict{host, cl.key}] = true
		r.event(now, "warn", "conflict", host, cl.key, fmt.Sprintf("%s also claims %s, which %s registered first; it waits in the queue", cl.key, host, st.winner))
	}
}

// reportBlocked emits one conflict event per claimant of an undecided slot
// that a sibling slot blocks.
func (r *registryState) reportBlocked(slot string, now time.Time) {
	for _, k := range slices.SortedFunc(maps.Keys(r.claims[slot]), func(a, b claimKey) int { return strings.Compare(a.String(), b.String()) }) {
		cl := r.claims[slot][k]
		if !cl.known || cl.spec.empty() || !cl.missing.IsZero() || r.reported[reportedConflict{slot, k}] {
			continue
		}
		if present, frozen := r.presence(cl); !present || frozen {
			continue
		}
		if why := r.blocked(slot, cl); why != "" {
			r.reported[reportedConflict{slot, k}] = true
			r.event(now, "warn", "conflict", slot, k, fmt.Sprintf("%s also claims %s, which waits: %s", k, slot, why))
		}
	}
}

type reportedConflict struct {
	host string
	key  claimKey
}

// event records one decision. An agent's decisions are budgeted like its
// label errors (a source that toggles a thousand routes per snapshot must
// not write a thousand log lines and events each time): over the budget
// they are counted and summed up in one event. Main's own (local) are not.
func (r *registryState) event(now time.Time, level, kind, host string, k claimKey, msg string) {
	if strings.HasPrefix(k.Source, "agent:") && !r.decisionBudget(k.Source).AllowN(now, 1) {
		r.decisionsHeld[k.Source]++
		return
	}
	h, _ := splitSlot(host)
	r.events = append(r.events, Event{At: now, Level: level, Kind: kind, Hostname: h, Source: k.Source, Container: k.Container, Message: msg})
}

func (r *registryState) decisionBudget(source string) *rate.Limiter {
	l := r.decisionLimit[source]
	if l == nil {
		l = rate.NewLimiter(rate.Every(decisionEventEvery), decisionEventBurst)
		r.decisionLimit[source] = l
	}
	return l
}

// clip cuts s to at most n bytes, on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// Label error budgets: what one source can make main keep, log and serve.
const (
	// maxErrorsPerContainer label errors are kept per container; the rest
	// are counted (ContainerReport.Dropped).
	maxErrorsPerContainer = 20
	// maxErrorsServedPerSource errors are listed per source by the API.
	maxErrorsServedPerSource = 200
	// A source's new label errors become events (and log lines) at
	// errorEventBurst at once, then one per errorEventEvery; the rest are
	// counted and summarized in one event when the budget allows.
	errorEventBurst = 20
	errorEventEvery = 5 * time.Second
	// An agent's decision events (created, updated, conflict, …): a burst
	// as large as a big host's first set, then five a second.
	decisionEventBurst = 500
	decisionEventEvery = 200 * time.Millisecond
	// maxErrorKey and maxErrorMessage clip what a label error quotes.
	maxErrorKey     = 256
	maxErrorMessage = 512
)

func (r *registryState) reportLabelErrors(old ContainerReport, had bool, rep ContainerReport, now time.Time) {
	prev := map[labels.Error]bool{}
	if had {
		for _, e := range old.Errors {
			prev[e] = true
		}
	}
	budget := r.errorBudget(rep.Source)
	for _, e := range rep.Errors {
		if prev[e] {
			continue
		}
		if !budget.AllowN(now, 1) {
			r.errHeld[rep.Source]++
			continue
		}
		r.events = append(r.events, Event{At: now, Level: "error", Kind: "label_error", Source: rep.Source, Container: rep.Container,
			Message: fmt.Sprintf("%s: %s", messages.Container{Kind: rep.Kind, Name: rep.Container}.Noun(), e.Error())})
	}
	if rep.Dropped > 0 && rep.Dropped != old.Dropped {
		r.errHeld[rep.Source] += rep.Dropped
	}
}

// heldLabelErrors reports whether label errors or an agent's decisions wait
// for their summary.
func (r *registryState) heldLabelErrors() bool { return len(r.errHeld)+len(r.decisionsHeld) > 0 }

func (r *registryState) errorBudget(source string) *rate.Limiter {
	l := r.errBudget[source]
	if l == nil {
		l = rate.NewLimiter(rate.Every(errorEventEvery), errorEventBurst)
		r.errBudget[source] = l
	}
	return l
}

// summarizeLabelErrors reports, in one event per source, the label errors
// and decisions that were over the source's budgets, once the budget allows
// one more event. It runs after every set and tick, so a count waits at most
// until then.
func (r *registryState) summarizeLabelErrors(now time.Time) {
	for _, source := range slices.Sorted(maps.Keys(r.decisionsHeld)) {
		n := r.decisionsHeld[source]
		if !r.decisionBudget(source).AllowN(now, 1) {
			continue
		}
		delete(r.decisionsHeld, source)
		r.events = append(r.events, Event{At: now, Level: "info", Kind: "summary", Source: source,
			Message: fmt.Sprintf("%s: %d more decisions were not logged one by one (too many at once); GET /api/v1/hostnames shows the current state", source, n)})
	}
	for _, source := range slices.Sorted(maps.Keys(r.errHeld)) {
		n := r.errHeld[source]
		if !r.errorBudget(source).AllowN(now, 1) {
			continue
		}
		delete(r.errHeld, source)
		r.events = append(r.events, Event{At: now, Level: "error", Kind: "label_error", Source: source,
			Message: fmt.Sprintf("%s: %d more label errors were not logged one by one (too many at once); GET /api/v1/label-errors lists the current ones", source, n)})
	}
}

func joinKinds(s hostSpec) string {
	k := s.kinds()
	if len(k) == 0 {
		return "nothing"
	}
	out := k[0]
	for _, x := range k[1:] {
		out += ", " + x
	}
	return out
}
