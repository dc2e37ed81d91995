package plan

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/messages"
)

// OwnerMarker ends the comment of every DNS record Labelgate creates. With
// the store it proves ownership; it is what lets a lost database be rebuilt
// by adopting marked records, and only those.
const OwnerMarker = "[labelgate]"

// HasMarker reports whether a record comment carries the ownership marker.
func HasMarker(comment string) bool {
	return strings.HasSuffix(strings.TrimSpace(comment), OwnerMarker)
}

// markedComment joins the user's comment and the marker within the plan's
// comment length limit, shortening the user's part if it must.
func markedComment(user string, limit int) string {
	if user == "" {
		return OwnerMarker
	}
	room := limit - len(OwnerMarker) - 1
	if room <= 0 {
		return OwnerMarker
	}
	if len(user) > room {
		cut := room
		for cut > 0 && !utf8.RuneStart(user[cut]) {
			cut--
		}
		user = strings.TrimSpace(user[:cut])
	}
	return user + " " + OwnerMarker
}

// ZonePlan is the outcome of comparing a zone's desired records with its
// live records: one batch of changes plus what could not be done.
type ZonePlan struct {
	Batch cfapi.Batch
	// Creates, Updates and Deletes describe the batch, one change per
	// operation, in the batch's order within each kind.
	Creates, Updates, Deletes []Change
	// Conflicts are desired records not written because a record Labelgate
	// does not own is in the way.
	Conflicts []Conflict
	// Orphans are marked records nothing claims and the store does not know:
	// probably Labelgate's, but unprovable, so never deleted.
	Orphans []Conflict
	// Adopted are marked records taken over because they match a desired one.
	Adopted []cfapi.Record
}

// Zone compares the desired records of one zone with its live records.
//
//	live record                      desired?   result
//	owned (store id or marker)       yes        kept, or patched in place
//	owned, in the store              no         deleted (if deletes allowed)
//	marked, not in the store         no         left alone, reported orphan
//	foreign, blocking the name       yes        left alone, desired is a conflict
//	foreign                          –          never touched
//
// Records at one name and type are paired by content first, then in sorted
// order, so a changed address is an update, not a delete and a create. A
// desired record whose content is unresolved (a public IP not discovered
// yet) freezes its name and type: nothing is created, changed or deleted
// there until it resolves.
func Zone(live []cfapi.Record, desired []messages.DesiredRecord, stored map[string]bool, commentLimit int, pol Policy) ZonePlan {
	var zp ZonePlan
	type group struct{ name, typ string }
	owned := map[group][]cfapi.Record{}
	ownedAt := map[string][]cfapi.Record{} // owned or marked, by name
	foreign := map[string][]cfapi.Record{} // by name
	for _, r := range live {
		name := strings.ToLower(r.Name)
		if stored[r.ID] || HasMarker(r.Comment) {
			owned[group{name, r.Type}] = append(owned[group{name, r.Type}], r)
			ownedAt[name] = append(ownedAt[name], r)
		} else {
			foreign[name] = append(foreign[name], r)
		}
	}
	var creates []messages.DesiredRecord // decided once every delete is known
	wanted := map[group][]messages.DesiredRecord{}
	frozen := map[group]bool{}
	for _, d := range desired {
		g := group{d.Name, d.Type}
		if d.Unresolved != "" {
			frozen[g] = true
			continue
		}
		wanted[g] = append(wanted[g], d)
	}

	groups := map[group]bool{}
	for g := range owned {
		groups[g] = true
	}
	for g := range wanted {
		groups[g] = true
	}
	for _, g := range slices.SortedFunc(maps.Keys(groups), func(a, b group) int {
		return cmp.Or(cmp.Compare(a.name, b.name), cmp.Compare(a.typ, b.typ))
	}) {
		if frozen[g] {
			continue
		}
		have := slices.Clone(owned[g])
		slices.SortFunc(have, func(a, b cfapi.Record) int { return cmp.Or(cmp.Compare(a.Content, b.Content), cmp.Compare(a.ID, b.ID)) })
		want := slices.Clone(wanted[g])
		slices.SortFunc(want, func(a, b messages.DesiredRecord) int { return cmp.Compare(a.Content, b.Content) })

		// Pair equal content first.
		var unmatched []messages.DesiredRecord
		for _, d := range want {
			i := slices.IndexFunc(have, func(r cfapi.Record) bool { return sameContent(r, d) })
			if i < 0 {
				unmatched = append(unmatched, d)
				continue
			}
			zp.patch(have[i], d, stored, commentLimit, pol)
			have = slices.Delete(have, i, i+1)
		}
		for _, d := range unmatched {
			if len(have) > 0 {
				zp.patch(have[0], d, stored, commentLimit, pol)
				have = have[1:]
				continue
			}
			creates = append(creates, d)
		}
		for _, r := range have {
			if !stored[r.ID] {
				zp.Orphans = append(zp.Orphans, Conflict{Kind: Orphan, Object: DNSRecord, Hostname: g.name,
					Name:   fmt.Sprintf("%s %s %s (id %s)", r.Type, r.Name, r.Content, r.ID),
					Reason: "carries the Labelgate marker but nothing claims it and the store does not know it; it is left alone"})
				continue
			}
			if c := (Change{Action: Delete, Object: DNSRecord, Hostname: g.name, Name: fmt.Sprintf("%s %s %s", r.Type, r.Name, r.Content)}); pol.Allows(c) {
				zp.Deletes = append(zp.Deletes, c)
				zp.Batch.Deletes = append(zp.Batch.Deletes, r.ID)
			}
		}
	}
	// A create goes out only if no record that stays at its name forbids it
	// (Cloudflare would refuse the whole batch: 81053/81054/81058): someone
	// else's, or one of Labelgate's own that this batch does not delete — an
	// orphan, or one the sync policy keeps.
	deleted := map[string]bool{}
	for _, id := range zp.Batch.Deletes {
		deleted[id] = true
	}
	for _, d := range creates {
		if why, ok := blocked(foreign[d.Name], d); ok {
			zp.Conflicts = append(zp.Conflicts, why)
			continue
		}
		if why, ok := blockedByOwn(ownedAt[d.Name], deleted, stored, d, pol); ok {
			zp.Conflicts = append(zp.Conflicts, why)
			continue
		}
		zp.Creates = append(zp.Creates, Change{Action: Create, Object: DNSRecord, Hostname: d.Name,
			Name: fmt.Sprintf("%s %s %s", d.Type, d.Name, describeContent(d)), Owner: d.Owner})
		zp.Batch.Posts = append(zp.Batch.Posts, toRecord(d, commentLimit))
	}
	return zp
}

// blockedByOwn says why a record of Labelgate's own (stored, or marked) that
// stays at the name prevents creating d: a CNAME cannot share its name with
// any other record. Labelgate's own records of other types may share a name
// (an A beside an AAAA, several A records).
func blockedByOwn(own []cfapi.Record, deleted, stored map[string]bool, d messages.DesiredRecord, pol Policy) (Conflict, bool) {
	c := Conflict{Kind: Foreign, Object: DNSRecord, Hostname: d.Name, Name: d.Type + " " + d.Name}
	for _, r := range own {
		if deleted[r.ID] || r.Type == d.Type || (r.Type != "CNAME" && d.Type != "CNAME") {
			continue
		}
		switch {
		case !stored[r.ID]:
			c.Reason = fmt.Sprintf("a %s record carrying Labelgate's marker that the store does not know (id %s) is at that name; it is left alone, and a CNAME cannot share a name, so this record is not created", r.Type, r.ID)
		case !pol.Settled && cmp.Or(pol.Mode, "sync") == "sync":
			c.Reason = fmt.Sprintf("Labelgate's own %s record (id %s) is at that name and is not deleted before the settle point; a CNAME cannot share a name, so this record is created after it goes", r.Type, r.ID)
		default:
			c.Reason = fmt.Sprintf("Labelgate's own %s record (id %s) stays at that name because sync.policy %s does not delete; a CNAME cannot share a name, so this record is not created", r.Type, r.ID, cmp.Or(pol.Mode, "sync"))
		}
		return c, true
	}
	return c, false
}

// patch brings an owned record to the desired one, if anything differs.
func (zp *ZonePlan) patch(r cfapi.Record, d messages.DesiredRecord, stored map[string]bool, limit int, pol Policy) {
	if !stored[r.ID] {
		zp.Adopted = append(zp.Adopted, r)
	}
	want := toRecord(d, limit)
	var p cfapi.RecordPatch
	var what []string
	if !sameContent(r, d) {
		if want.SRV == nil && want.CAA == nil {
			p.Content = &want.Content
		}
		p.SRV, p.CAA, p.Priority = want.SRV, want.CAA, want.Priority
		what = append(what, fmt.Sprintf("content %s → %s", r.Content, describeContent(d)))
	}
	if r.Proxied != want.Proxied {
		p.Proxied = &want.Proxied
		what = append(what, fmt.Sprintf("proxied %t → %t", r.Proxied, want.Proxied))
	}
	if r.TTL != want.TTL && !want.Proxied {
		p.TTL = &want.TTL
		what = append(what, fmt.Sprintf("ttl %d → %d", r.TTL, want.TTL))
	}
	if r.Comment != want.Comment {
		p.Comment = &want.Comment
		what = append(what, "comment")
	}
	if d.Type == "MX" && !samePriority(r.Priority, want.Priority) {
		p.Priority = want.Priority
		what = append(what, "priority")
	}
	c := Change{Action: Update, Object: DNSRecord, Hostname: d.Name, Name: d.Type + " " + d.Name, Detail: strings.Join(what, ", "), Owner: d.Owner}
	if len(what) == 0 || !pol.Allows(c) {
		return
	}
	p.ID = r.ID
	zp.Updates = append(zp.Updates, c)
	zp.Batch.Patches = append(zp.Batch.Patches, p)
}

// blocked says why a foreign record at the name prevents creating d:
// a CNAME stands alone, address records are not mixed with someone else's,
// and an identical record exists already.
func blocked(foreign []cfapi.Record, d messages.DesiredRecord) (Conflict, bool) {
	c := Conflict{Kind: Foreign, Object: DNSRecord, Hostname: d.Name, Name: d.Type + " " + d.Name}
	for _, f := range foreign {
		address := func(t string) bool { return t == "A" || t == "AAAA" || t == "CNAME" }
		switch {
		case f.Type == "CNAME" || d.Type == "CNAME":
			c.Reason = fmt.Sprintf("a %s record Labelgate does not own is at that name (id %s); it is left alone and this record is not created", f.Type, f.ID)
		case address(d.Type) && address(f.Type):
			c.Reason = fmt.Sprintf("a %s record Labelgate does not own (%s, id %s) already answers for that name; it is left alone and this record is not created", f.Type, f.Content, f.ID)
		case f.Type == d.Type && sameContent(f, d):
			c.Reason = fmt.Sprintf("an identical record exists that Labelgate does not own (id %s); it is left alone", f.ID)
		default:
			continue
		}
		return c, true
	}
	return c, false
}

func sameContent(r cfapi.Record, d messages.DesiredRecord) bool {
	switch d.Type {
	case "SRV":
		return r.SRV != nil && d.SRV != nil && r.SRV.Priority == d.SRV.Priority && r.SRV.Weight == d.SRV.Weight &&
			r.SRV.Port == d.SRV.Port && strings.EqualFold(strings.TrimSuffix(r.SRV.Target, "."), strings.TrimSuffix(d.SRV.Target, "."))
	case "CAA":
		return r.CAA != nil && d.CAA != nil && r.CAA.Flags == d.CAA.Flags && r.CAA.Tag == d.CAA.Tag && r.CAA.Value == d.CAA.Value
	case "MX":
		return strings.EqualFold(strings.TrimSuffix(r.Content, "."), d.Content) && (d.Priority == nil || samePriority(r.Priority, d.Priority))
	case "CNAME":
		return strings.EqualFold(strings.TrimSuffix(r.Content, "."), d.Content)
	case "TXT":
		return r.Content == d.Content || r.Content == `"`+d.Content+`"`
	}
	return r.Content == d.Content
}

func samePriority(a, b *int) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

func describeContent(d messages.DesiredRecord) string {
	switch {
	case d.SRV != nil:
		return fmt.Sprintf("%d %d %d %s", d.SRV.Priority, d.SRV.Weight, d.SRV.Port, d.SRV.Target)
	case d.CAA != nil:
		return fmt.Sprintf("%d %s %q", d.CAA.Flags, d.CAA.Tag, d.CAA.Value)
	case d.Priority != nil:
		return fmt.Sprintf("%d %s", *d.Priority, d.Content)
	}
	return d.Content
}

// toRecord is the record to create for d.
func toRecord(d messages.DesiredRecord, limit int) cfapi.Record {
	r := cfapi.Record{Name: d.Name, Type: d.Type, Content: d.Content, TTL: d.TTL, Proxied: d.Proxied, Comment: markedComment(d.Comment, limit)}
	if d.Proxied {
		r.TTL = 1
	}
	if d.Priority != nil {
		p := *d.Priority
		r.Priority = &p
	}
	if d.SRV != nil {
		r.SRV = &cfapi.SRVData{Priority: d.SRV.Priority, Weight: d.SRV.Weight, Port: d.SRV.Port, Target: d.SRV.Target}
		r.Content = ""
	}
	if d.CAA != nil {
		r.CAA = &cfapi.CAAData{Flags: d.CAA.Flags, Tag: d.CAA.Tag, Value: d.CAA.Value}
		r.Content = ""
	}
	return r
}
