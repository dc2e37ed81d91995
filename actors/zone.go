package actors

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/labelgate/labelgate/cfapi"
	"github.com/labelgate/labelgate/messages"
	"github.com/labelgate/labelgate/plan"
	"github.com/labelgate/labelgate/store"
)

// zoneDesired is the DNS actor's instruction to one zone actor: every
// record the zone should hold for Labelgate.
type zoneDesired struct {
	Records []messages.DesiredRecord
	Settled bool
	// Version is the registry's desired-state version these records are of.
	Version uint64
}

// ZoneConfig configures one zone actor.
type ZoneConfig struct {
	PlannerConfig
	Zone         cfapi.Zone
	CommentLimit int
	BatchSize    int
}

// zoneActor owns Labelgate's records in one zone: one paged list per
// reconcile, a pure plan, then the batch endpoint in chunks of the plan's
// cap. Ownership is recorded in the store and marked in each comment.
type zoneActor struct {
	reconciler
	zc        ZoneConfig
	desired   []messages.DesiredRecord
	settled   bool
	have      bool
	stored    map[string]store.OwnedObject // by Cloudflare id
	loaded    bool
	listID    uint64
	batchID   uint64
	chunks    []cfapi.Batch
	plan      plan.ZonePlan
	conflicts map[string]bool
	orphans   map[string]bool
}

// NewZoneProps builds the actor that owns Labelgate's records in one zone.
func NewZoneProps(zc ZoneConfig) *actor.Props {
	if zc.BatchSize <= 0 {
		zc.BatchSize = 200
	}
	if zc.CommentLimit <= 0 {
		zc.CommentLimit = 100
	}
	return actor.PropsFromProducer(func() actor.Actor {
		rec := newReconciler(zc.PlannerConfig, "zone:"+zc.Zone.Name)
		rec.toParent = true
		rec.status.Kind = plan.DNSRecord
		a := &zoneActor{reconciler: rec, zc: zc, conflicts: map[string]bool{}, orphans: map[string]bool{}}
		a.counts = func() (int, int) { return len(a.desired), len(a.stored) }
		return a
	}, withMiddleware(zc.Logger))
}

func (a *zoneActor) Receive(ctx actor.Context) {
	log := a.cfg.Logger.With("actor", "zone", "zone", a.zc.Zone.Name)
	if a.common(ctx, a.loaded && a.have) {
		return
	}
	switch m := ctx.Message().(type) {
	case *actor.Started:
		ctx.Request(a.cfg.Store, storeLoadOwned{Kind: store.KindDNSRecord, Scope: a.zc.Zone.ID})
		a.drift(ctx)
	case storeOwnedLoaded:
		if m.Err != nil {
			panic(m.Err)
		}
		a.stored = map[string]store.OwnedObject{}
		for _, o := range m.Objects {
			a.stored[o.CFID] = o
		}
		a.loaded = true
		if a.have && worthReconciling(a.settled, len(a.desired)) {
			a.request(ctx, 0)
		}
	case zoneDesired:
		same := a.have && a.settled == m.Settled && slices.EqualFunc(a.desired, m.Records, sameDesiredRecord)
		a.observe(m.Version, m.Settled, !same)
		if same {
			ctx.Send(ctx.Parent(), a.snapshot()) // the DNS actor answers for its zones
			return
		}
		a.desired, a.settled, a.have = m.Records, m.Settled, true
		if a.loaded && worthReconciling(a.settled, len(a.desired)) {
			a.request(ctx, a.cfg.Debounce)
		}
	case reconcileNow:
		if a.loaded && a.have && a.begin() {
			a.listID = a.ask(ctx, prioDNS, "", opListRecords{ZoneID: a.zc.Zone.ID})
		}
	case cfResponse:
		switch m.ID {
		case a.listID:
			a.onList(ctx, m)
		case a.batchID:
			a.onBatch(ctx, m)
		default:
			log.Debug("late Cloudflare answer ignored", "id", m.ID)
		}
	}
}

func (a *zoneActor) onList(ctx actor.Context, m cfResponse) {
	log := a.cfg.Logger.With("actor", "zone", "zone", a.zc.Zone.Name)
	if m.Err != nil {
		log.Error("listing the zone's records failed; the plan is aborted and retried", "err", m.Err)
		a.end(ctx, fmt.Errorf("listing the zone's records: %w", m.Err))
		return
	}
	live := m.Result.([]cfapi.Record)
	ids := map[string]bool{}
	for id := range a.stored {
		ids[id] = true
	}
	pol := a.mode()
	pol.Settled = a.settled
	a.plan = plan.Zone(live, a.desired, ids, a.zc.CommentLimit, pol)
	reportNew(ctx, a.cfg, log, a.conflicts, a.plan.Conflicts)
	reportNew(ctx, a.cfg, log, a.orphans, a.plan.Orphans)
	a.status.Conflicts = slices.Concat(a.plan.Conflicts, a.plan.Orphans)

	// Records that vanished by hand are forgotten (drift: they are
	// re-created as desired records); adopted ones are recorded.
	var puts []store.OwnedObject
	var dels []store.OwnedKey
	liveIDs := map[string]bool{}
	for _, r := range live {
		liveIDs[r.ID] = true
	}
	for id, o := range a.stored {
		if !liveIDs[id] {
			dels = append(dels, o.OwnedKey)
			delete(a.stored, id)
		}
	}
	for _, r := range a.plan.Adopted {
		o := a.owned(r)
		a.stored[r.ID] = o
		puts = append(puts, o)
	}
	if len(puts)+len(dels) > 0 {
		ctx.Send(a.cfg.Store, storeApplyOwned{Puts: puts, Deletes: dels})
	}

	if a.plan.Batch.Len() == 0 {
		a.end(ctx, nil)
		return
	}
	if a.cfg.DryRun {
		log.Info("dry run: would change records", "changes", changeStrings(slices.Concat(a.plan.Deletes, a.plan.Updates, a.plan.Creates)))
		a.end(ctx, nil)
		return
	}
	a.chunks = chunkBatch(a.plan.Batch, a.zc.BatchSize)
	a.nextChunk(ctx)
}

func (a *zoneActor) nextChunk(ctx actor.Context) {
	c := a.chunks[0]
	a.batchID = a.ask(ctx, prioDNS, "", opBatch{ZoneID: a.zc.Zone.ID, Batch: c})
}

func (a *zoneActor) onBatch(ctx actor.Context, m cfResponse) {
	log := a.cfg.Logger.With("actor", "zone", "zone", a.zc.Zone.Name)
	chunk := a.chunks[0]
	a.chunks = a.chunks[1:]
	if m.Err != nil {
		// The batch is all-or-nothing; with an unknown outcome the next
		// list shows what happened, and marked records are adopted, so a
		// retry never duplicates. A conflict (81053/81054/81058: a record
		// created since the list) is not written again either: the next
		// list shows the record, and the planner reports it as a conflict.
		if errors.Is(m.Err, cfapi.ErrConflict) {
			log.Warn("Cloudflare refused a DNS batch: a record at one of its names conflicts (most likely created since the zone was listed); the zone will be listed again and the clash reported as a conflict", "err", m.Err, "operations", chunk.Len())
		} else {
			log.Error("a DNS batch failed; the zone will be listed again", "err", m.Err, "operations", chunk.Len())
		}
		a.chunks = nil
		a.end(ctx, fmt.Errorf("applying a DNS batch: %w", m.Err))
		return
	}
	res := m.Result.(cfapi.BatchResult)
	var puts []store.OwnedObject
	var dels []store.OwnedKey
	for _, id := range chunk.Deletes {
		if o, ok := a.stored[id]; ok {
			dels = append(dels, o.OwnedKey)
			delete(a.stored, id)
		}
	}
	for _, r := range slices.Concat(res.Patches, res.Posts) {
		if old, ok := a.stored[r.ID]; ok && old.Key != recordKey(r) {
			dels = append(dels, old.OwnedKey)
		}
		o := a.owned(r)
		a.stored[r.ID] = o
		puts = append(puts, o)
	}
	ctx.Send(a.cfg.Store, storeApplyOwned{Puts: puts, Deletes: dels})
	a.recordEvents(ctx, chunk)
	if len(a.chunks) > 0 {
		a.nextChunk(ctx)
		return
	}
	a.end(ctx, nil)
}

// recordEvents logs and records the changes of a chunk (the plan's changes
// are matched to the chunk by position, since chunks keep the plan's order).
func (a *zoneActor) recordEvents(ctx actor.Context, chunk cfapi.Batch) {
	log := a.cfg.Logger.With("actor", "zone", "zone", a.zc.Zone.Name)
	take := func(changes *[]plan.Change, n int) []plan.Change {
		n = min(n, len(*changes))
		out := (*changes)[:n]
		*changes = (*changes)[n:]
		return out
	}
	changes := slices.Concat(take(&a.plan.Deletes, len(chunk.Deletes)), take(&a.plan.Updates, len(chunk.Patches)), take(&a.plan.Creates, len(chunk.Posts)))
	recordChanges(ctx, a.cfg, log, changes, "zone "+a.zc.Zone.Name+": DNS records", func(c plan.Change) string {
		return "DNS record " + string(c.Action) + ": " + c.String()
	})
}

func (a *zoneActor) owned(r cfapi.Record) store.OwnedObject {
	return store.OwnedObject{OwnedKey: store.OwnedKey{Kind: store.KindDNSRecord, Scope: a.zc.Zone.ID, Key: recordKey(r)}, CFID: r.ID, Hostname: strings.ToLower(r.Name)}
}

// recordKey is a record's identity in the store: type, name and id (two
// records may share type, name and even content over time).
func recordKey(r cfapi.Record) string {
	return fmt.Sprintf("%s %s %s", r.Type, strings.ToLower(r.Name), r.ID)
}

// chunkBatch splits a batch into batches of at most n operations, keeping
// Cloudflare's order across them: every delete before any patch before any
// post, so a record that replaces another never collides with it.
func chunkBatch(b cfapi.Batch, n int) []cfapi.Batch {
	var out []cfapi.Batch
	cur := cfapi.Batch{}
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur)
			cur = cfapi.Batch{}
		}
	}
	for _, d := range b.Deletes {
		cur.Deletes = append(cur.Deletes, d)
		if cur.Len() == n {
			flush()
		}
	}
	for _, p := range b.Patches {
		cur.Patches = append(cur.Patches, p)
		if cur.Len() == n {
			flush()
		}
	}
	for _, p := range b.Puts {
		cur.Puts = append(cur.Puts, p)
		if cur.Len() == n {
			flush()
		}
	}
	for _, p := range b.Posts {
		cur.Posts = append(cur.Posts, p)
		if cur.Len() == n {
			flush()
		}
	}
	flush()
	return out
}

func sameDesiredRecord(a, b messages.DesiredRecord) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
