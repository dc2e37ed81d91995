package actors

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/labelgate/labelgate/labels"
	"github.com/labelgate/labelgate/messages"
)

// desired assembles the full desired state from every hostname's spec:
// active, frozen, leaving and retained hostnames alike. Every configured
// tunnel appears, with no rules if none are owned, so its actor can drop
// rules that are no longer wanted.
func (r *registryState) desired() messages.DesiredState {
	ds := messages.DesiredState{Settled: r.settled, Tunnels: map[string]messages.DesiredTunnel{}}
	for name, ref := range r.cfg.Tunnels {
		ds.Tunnels[name] = messages.DesiredTunnel{Name: name, TunnelID: ref.TunnelID, AccountID: ref.AccountID, Credential: ref.Credential}
	}
	cnames := map[string]bool{} // tunnel CNAMEs listed, by name
	for _, host := range slices.Sorted(maps.Keys(r.hosts)) {
		spec := r.hosts[host].spec
		if spec.Access != "" && spec.App == nil {
			continue // withheld: a route meant to be protected is never published unprotected
		}
		// A route meant to be protected is added only once its Access
		// application exists; until then it is held (a live one stays).
		held := spec.App != nil && !r.protected[strings.ToLower(spec.App.Hostname)]
		if len(spec.Rules) > 0 {
			t, ok := ds.Tunnels[spec.Tunnel]
			if !ok {
				continue // the tunnel left the configuration; nothing can be written for it
			}
			for _, rule := range spec.Rules {
				dr := rule.DesiredRule
				dr.Held = held
				t.Rules = append(t.Rules, dr)
			}
			ds.Tunnels[spec.Tunnel] = t
		}
		for _, rec := range spec.Records {
			// A hostname split by path lists its CNAME in every route
			// slot; it is one record.
			if rec.Tunnel != "" {
				if cnames[rec.Name] {
					continue
				}
				cnames[rec.Name] = true
			}
			ds.Records = append(ds.Records, rec.DesiredRecord)
		}
		if spec.App != nil {
			ds.Apps = append(ds.Apps, *spec.App)
		}
	}
	return ds
}

// hostnameStates reports every hostname the registry knows, for the API.
func (r *registryState) hostnameStates() []messages.HostnameState {
	hosts := map[string]bool{}
	for h := range r.hosts {
		hosts[h] = true
	}
	for h := range r.claims {
		hosts[h] = true
	}
	var out []messages.HostnameState
	for _, host := range slices.Sorted(maps.Keys(hosts)) {
		h, path := splitSlot(host)
		hs := messages.HostnameState{Hostname: h, Path: path}
		st := r.hosts[host]
		if st != nil {
			hs.State, hs.Due, hs.Tunnel, hs.Kinds = st.state, st.due, st.spec.Tunnel, st.spec.kinds()
			hs.Winner = messages.Owner{Source: st.winner.Source, Container: st.winner.Container}
			if win := r.claims[host][st.winner]; st.state == hostActive && win != nil {
				if _, frozen := r.presence(win); frozen {
					hs.State = messages.HostFrozen
				}
			}
			switch {
			case st.spec.Access != "" && st.spec.App == nil:
				hs.Error = withheldReason(st.spec.Access, st.winner.Source, r.definedElsewhere(st.winner.Source, st.spec.Access))
			case st.spec.App != nil && len(st.spec.Rules) > 0 && !r.protected[strings.ToLower(st.spec.App.Hostname)]:
				hs.Error = fmt.Sprintf("its Access application %s does not exist (yet): a new route waits for it, a live one stays; the Access planner says why if it cannot be written", st.spec.App.Hostname)
			}
		} else {
			hs.State = messages.HostRefused
		}
		var queue []*claimant
		for _, cl := range r.claims[host] {
			if st != nil && cl.key == st.winner {
				continue
			}
			if present, _ := r.presence(cl); present && cl.known {
				queue = append(queue, cl)
			}
		}
		slices.SortFunc(queue, func(a, b *claimant) int {
			if a.before(b) {
				return -1
			}
			return 1
		})
		for _, cl := range queue {
			hs.Queued = append(hs.Queued, messages.Owner{Source: cl.key.Source, Container: cl.key.Container})
		}
		if st == nil && len(queue) == 0 {
			continue
		}
		out = append(out, hs)
	}
	return out
}

// labelErrors lists the current label errors, by source and container: at
// most maxErrorsServedPerSource per source, with one closing entry per source
// (Container empty) that counts the ones not listed. A container's Dropped
// errors count as not listed.
func (r *registryState) labelErrors() []ContainerReport {
	var out []ContainerReport
	served, hidden := map[string]int{}, map[string]int{}
	for _, k := range slices.SortedFunc(maps.Keys(r.reports), func(a, b claimKey) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Container, b.Container))
	}) {
		rep := r.reports[k]
		if len(rep.Errors) == 0 {
			continue
		}
		room := maxErrorsServedPerSource - served[rep.Source]
		n := min(room, len(rep.Errors))
		hidden[rep.Source] += len(rep.Errors) - n + rep.Dropped
		if n <= 0 {
			continue
		}
		served[rep.Source] += n
		out = append(out, ContainerReport{Source: rep.Source, Container: rep.Container, Kind: rep.Kind, Errors: slices.Clone(rep.Errors[:n]), Dropped: rep.Dropped})
	}
	for _, src := range slices.Sorted(maps.Keys(hidden)) {
		if n := hidden[src]; n > 0 {
			out = append(out, ContainerReport{Source: src, Dropped: n, Errors: []labels.Error{{
				Message: fmt.Sprintf("%d more label errors of %s are not listed (at most %d per source, %d per container)", n, src, maxErrorsServedPerSource, maxErrorsPerContainer)}}})
		}
	}
	return out
}

// tick applies the passage of time: graces that ended.
func (r *registryState) tick(now time.Time) {
	r.decideAll(now)
	r.summarizeLabelErrors(now)
}

// nextDue is the earliest grace end, for the actor's timer; zero if none.
func (r *registryState) nextDue() time.Time {
	var next time.Time
	for _, st := range r.hosts {
		if st.state == hostLeaving && (next.IsZero() || st.due.Before(next)) {
			next = st.due
		}
	}
	return next
}

// unknownSources lists the sources that have not reported since start.
func (r *registryState) unknownSources() []string {
	var out []string
	for name, s := range r.sources {
		if s.status == sourceUnknown {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// markSettled passes the startup settle point: from now on graces may end
// and deletes may be planned.
func (r *registryState) markSettled(now time.Time) {
	if r.settled {
		return
	}
	r.settled, r.changed = true, true
	r.decideAll(now)
}

// drain hands the collected store writes and events to the caller.
func (r *registryState) drain() ([]storeWrite, []Event) {
	w, e := r.writes, r.events
	r.writes, r.events = nil, nil
	return w, e
}

// takeChanged reports whether any hostname decision changed since the last
// call (then the desired state needs a rebuild) and resets the flag.
// setProtected records the domains that have one of Labelgate's Access
// applications now (messages.AccessProtected).
func (r *registryState) setProtected(domains []string) {
	next := make(map[string]bool, len(domains))
	for _, d := range domains {
		next[strings.ToLower(d)] = true
	}
	if maps.Equal(next, r.protected) {
		return
	}
	r.protected = next
	r.changed = true
}

func (r *registryState) takeChanged() bool {
	c := r.changed
	r.changed = false
	return c
}

// ErrNotLeaving answers a messages.CancelDelete for a hostname that is not waiting out
// a grace.
var ErrNotLeaving = errors.New("hostname is not waiting to be deleted")

// cancelDelete keeps a leaving hostname's objects: the grace is cancelled
// and the hostname is retained, as if its objects had cleanup=false. Every
// leaving slot of the hostname (its paths too) is kept.
func (r *registryState) cancelDelete(host string, now time.Time) error {
	kept := false
	for _, slot := range slices.Sorted(maps.Keys(r.slots[host])) {
		st := r.hosts[slot]
		if st == nil || st.state != hostLeaving {
			continue
		}
		st.state, st.due = hostRetained, time.Time{}
		r.persistHost(slot, st, now)
		r.event(now, "info", "retained", slot, st.winner, fmt.Sprintf("an operator cancelled the delete of %s; its objects are kept", slot))
		kept = true
	}
	if !kept {
		return ErrNotLeaving
	}
	return nil
}

// withheldReason says why a protected hostname is not published: its
// template is defined neither by its own source nor in main's configuration.
func withheldReason(tpl, source string, elsewhere []string) string {
	msg := "access template " + tpl + " is defined neither by a container of " + source + " nor in main's access.templates; the hostname is withheld until it is"
	if len(elsewhere) > 0 {
		msg += " (" + strings.Join(elsewhere, ", ") + " defines one, but a template protects only the hostnames of its own host; pin it in main's configuration to share it)"
	}
	return msg
}
