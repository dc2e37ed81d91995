package plan

import (
	"slices"
	"strings"
	"testing"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/messages"
)

var settledSync = Policy{Mode: "sync", Settled: true}

func rec(id, name, typ, content, comment string) cfapi.Record {
	return cfapi.Record{ID: id, Name: name, Type: typ, Content: content, Comment: comment, TTL: 1, Proxied: typ != "TXT" && typ != "MX"}
}

func drec(name, typ, content string) messages.DesiredRecord {
	return messages.DesiredRecord{Name: name, Type: typ, Content: content, TTL: 1, Proxied: typ == "A" || typ == "AAAA" || typ == "CNAME"}
}

func TestMarkedComment(t *testing.T) {
	tests := []struct {
		user  string
		limit int
		want  string
	}{
		{"", 100, "[labelgate]"},
		{"front page", 100, "front page [labelgate]"},
		{strings.Repeat("x", 95), 100, strings.Repeat("x", 88) + " [labelgate]"},
		{"ééééé", 16, "éé [labelgate]"},
	}
	for _, tc := range tests {
		got := markedComment(tc.user, tc.limit)
		if got != tc.want || len(got) > tc.limit || !HasMarker(got) {
			t.Errorf("markedComment(%q, %d) = %q (%d bytes), want %q", tc.user, tc.limit, got, len(got), tc.want)
		}
	}
}

func TestPlanZone(t *testing.T) {
	live := []cfapi.Record{
		rec("r1", "app.example.com", "CNAME", "t1.cfargotunnel.com", "[labelgate]"),      // owned, unchanged
		rec("r2", "ip.example.com", "A", "203.0.113.1", "home [labelgate]"),              // owned, IP changed
		rec("r3", "gone.example.com", "A", "203.0.113.3", "[labelgate]"),                 // owned, in store, undesired
		rec("r4", "orphan.example.com", "A", "203.0.113.4", "[labelgate]"),               // marked, unknown, undesired
		rec("r5", "taken.example.com", "A", "198.51.100.5", "the user's"),                // foreign
		rec("r6", "example.com", "TXT", "v=spf1 -all", ""),                               // foreign TXT
		rec("r7", "cname.example.com", "CNAME", "elsewhere.example.net", ""),             // foreign CNAME
		rec("r8", "frozen.example.com", "A", "203.0.113.8", "[labelgate]"),               // owned, unresolved now
		rec("r9", "adopt.example.com", "A", "203.0.113.9", "[labelgate]"),                // marked, desired: adopted
		rec("r10", "commented.example.com", "A", "203.0.113.10", "old note [labelgate]"), // comment changes
	}
	stored := map[string]bool{"r1": true, "r2": true, "r3": true, "r8": true, "r10": true}
	desired := []messages.DesiredRecord{
		drec("app.example.com", "CNAME", "t1.cfargotunnel.com"),
		drec("ip.example.com", "A", "203.0.113.2"),
		drec("taken.example.com", "A", "203.0.113.50"),
		drec("example.com", "TXT", "google-site-verification=abc"),
		drec("cname.example.com", "A", "203.0.113.70"),
		{Name: "frozen.example.com", Type: "A", Unresolved: "public IP unknown"},
		drec("adopt.example.com", "A", "203.0.113.9"),
		drec("new.example.com", "AAAA", "2001:db8::1"),
		{Name: "commented.example.com", Type: "A", Content: "203.0.113.10", TTL: 1, Proxied: true, Comment: "new note"},
	}
	pl := Zone(live, desired, stored, 100, settledSync)
	eq(t, "creates", changeNames(pl.Creates, Create), []string{"TXT example.com google-site-verification=abc", "AAAA new.example.com 2001:db8::1"})
	eq(t, "updates", changeNames(pl.Updates, Update), []string{"A commented.example.com: comment", "A ip.example.com: content 203.0.113.1 → 203.0.113.2, comment"})
	eq(t, "deletes", changeNames(pl.Deletes, Delete), []string{"A gone.example.com 203.0.113.3"})
	eq(t, "batch deletes", pl.Batch.Deletes, []string{"r3"})
	if len(pl.Conflicts) != 2 || !strings.Contains(pl.Conflicts[0].String(), "cname.example.com") || !strings.Contains(pl.Conflicts[1].String(), "taken.example.com") {
		t.Fatalf("want conflicts for cname and taken, got %q", pl.Conflicts)
	}
	if len(pl.Orphans) != 1 || !strings.Contains(pl.Orphans[0].String(), "orphan.example.com") {
		t.Fatalf("want the orphan reported, got %q", pl.Orphans)
	}
	if len(pl.Adopted) != 1 || pl.Adopted[0].ID != "r9" {
		t.Fatalf("want r9 adopted, got %+v", pl.Adopted)
	}
	for _, p := range pl.Batch.Posts {
		if !HasMarker(p.Comment) {
			t.Fatalf("created record without the marker: %+v", p)
		}
	}
	for _, p := range pl.Batch.Patches {
		if p.ID == "r2" && (p.Comment == nil || *p.Comment != "[labelgate]") {
			t.Fatalf("the marker must be kept (and the stale user comment dropped) on update: %+v", p)
		}
	}
}

func TestPlanZoneSteadyStateIsEmpty(t *testing.T) {
	live := []cfapi.Record{
		rec("r1", "a.example.com", "A", "203.0.113.1", "[labelgate]"),
		{ID: "r2", Name: "_sip._tcp.example.com", Type: "SRV", Comment: "[labelgate]", TTL: 1, SRV: &cfapi.SRVData{Priority: 10, Weight: 5, Port: 5060, Target: "sip.example.com"}, Content: "5 5060 sip.example.com"},
		{ID: "r3", Name: "example.com", Type: "MX", Content: "mail.example.com", Priority: ptrInt(10), Comment: "[labelgate]", TTL: 1},
		{ID: "r4", Name: "example.com", Type: "CAA", Comment: "[labelgate]", TTL: 1, CAA: &cfapi.CAAData{Flags: 0, Tag: "issue", Value: "letsencrypt.org"}},
	}
	desired := []messages.DesiredRecord{
		drec("a.example.com", "A", "203.0.113.1"),
		{Name: "_sip._tcp.example.com", Type: "SRV", Content: "5 5060 sip.example.com", TTL: 1, SRV: &messages.SRV{Priority: 10, Weight: 5, Port: 5060, Target: "sip.example.com"}},
		{Name: "example.com", Type: "MX", Content: "mail.example.com", TTL: 1, Priority: ptrInt(10)},
		{Name: "example.com", Type: "CAA", TTL: 1, CAA: &messages.CAA{Flags: 0, Tag: "issue", Value: "letsencrypt.org"}},
	}
	pl := Zone(live, desired, map[string]bool{"r1": true, "r2": true, "r3": true, "r4": true}, 100, settledSync)
	if pl.Batch.Len() != 0 {
		t.Fatalf("steady state must pl nothing, got %+v", pl)
	}
}

func TestPlanZonePolicies(t *testing.T) {
	live := []cfapi.Record{rec("r1", "a.example.com", "A", "203.0.113.1", "[labelgate]"), rec("r2", "b.example.com", "A", "203.0.113.2", "[labelgate]")}
	stored := map[string]bool{"r1": true, "r2": true}
	desired := []messages.DesiredRecord{drec("a.example.com", "A", "203.0.113.9"), drec("c.example.com", "A", "203.0.113.3")}
	tests := []struct {
		pol               Policy
		posts, patch, del int
	}{
		{settledSync, 1, 1, 1},
		{Policy{Mode: "sync"}, 1, 1, 0},
		{Policy{Mode: "upsert-only", Settled: true}, 1, 1, 0},
		{Policy{Mode: "create-only", Settled: true}, 1, 0, 0},
	}
	for _, tc := range tests {
		pl := Zone(live, desired, stored, 100, tc.pol)
		if len(pl.Batch.Posts) != tc.posts || len(pl.Batch.Patches) != tc.patch || len(pl.Batch.Deletes) != tc.del {
			t.Errorf("%+v: got %d/%d/%d", tc.pol, len(pl.Batch.Posts), len(pl.Batch.Patches), len(pl.Batch.Deletes))
		}
	}
}

func ptrInt(i int) *int { return &i }

// A create that one of Labelgate's own records staying at the name would
// make Cloudflare refuse (81053/81054: a CNAME shares its name with
// nothing) is a reported conflict, not a batch that fails every time; a
// record this batch deletes does not block.
func TestPlanZoneOwnRecordsThatStayBlockACNAME(t *testing.T) {
	own := rec("a1", "app.example.com", "A", "203.0.113.1", "[labelgate]")
	tunnel := drec("app.example.com", "CNAME", "t1.cfargotunnel.com")
	tests := []struct {
		name     string
		live     []cfapi.Record
		stored   map[string]bool
		desired  []messages.DesiredRecord
		pol      Policy
		posts    int
		deletes  []string
		conflict string // fragment of the one conflict's reason; "" for none
	}{
		{"moved to a tunnel, sync: delete and create in one batch", []cfapi.Record{own}, map[string]bool{"a1": true},
			[]messages.DesiredRecord{tunnel}, settledSync, 1, []string{"a1"}, ""},
		{"moved to a tunnel, upsert-only keeps the A", []cfapi.Record{own}, map[string]bool{"a1": true},
			[]messages.DesiredRecord{tunnel}, Policy{Mode: "upsert-only", Settled: true}, 0, nil, "sync.policy upsert-only does not delete"},
		{"moved to a tunnel before the settle point", []cfapi.Record{own}, map[string]bool{"a1": true},
			[]messages.DesiredRecord{tunnel}, Policy{Mode: "sync"}, 0, nil, "created after it goes"},
		{"an orphan A", []cfapi.Record{own}, map[string]bool{},
			[]messages.DesiredRecord{tunnel}, settledSync, 0, nil, "carrying Labelgate's marker that the store does not know"},
		{"an orphan CNAME under a wanted A", []cfapi.Record{rec("c1", "app.example.com", "CNAME", "x.example.net", "[labelgate]")}, map[string]bool{},
			[]messages.DesiredRecord{drec("app.example.com", "A", "203.0.113.2")}, settledSync, 0, nil, "CNAME record carrying Labelgate's marker"},
		{"own A beside a new A and AAAA", []cfapi.Record{own}, map[string]bool{"a1": true},
			[]messages.DesiredRecord{drec("app.example.com", "A", "203.0.113.1"), drec("app.example.com", "A", "203.0.113.2"), drec("app.example.com", "AAAA", "2001:db8::2")},
			settledSync, 2, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pl := Zone(tc.live, tc.desired, tc.stored, 100, tc.pol)
			if len(pl.Batch.Posts) != tc.posts || !slices.Equal(pl.Batch.Deletes, tc.deletes) {
				t.Fatalf("posts %d, deletes %v; want %d, %v (%+v)", len(pl.Batch.Posts), pl.Batch.Deletes, tc.posts, tc.deletes, pl)
			}
			switch {
			case tc.conflict == "" && len(pl.Conflicts) != 0:
				t.Fatalf("conflicts %q, want none", pl.Conflicts)
			case tc.conflict != "" && (len(pl.Conflicts) != 1 || pl.Conflicts[0].Kind != Foreign || !strings.Contains(pl.Conflicts[0].Reason, tc.conflict)):
				t.Fatalf("conflicts %q, want one saying %q", pl.Conflicts, tc.conflict)
			}
		})
	}
}
