package plan

import (
	"github.com/labelgate/labelgate/messages"
)

// Object is the kind of Cloudflare object a change or conflict is about.
type Object string

// The objects Labelgate writes.
const (
	TunnelRule   Object = "tunnel_rule"
	DNSRecord    Object = "dns_record"
	AccessApp    Object = "access_app"
	AccessPolicy Object = "access_policy"
)

// Action is what a change does. Its value is the event kind it is recorded
// as.
type Action string

// The three actions.
const (
	Create Action = "created"
	Update Action = "updated"
	Delete Action = "deleted"
)

// Change is one write a planner wants.
type Change struct {
	Action Action
	Object Object
	// Hostname is the hostname the object serves; empty for an object that
	// serves none by itself (an Access policy shared by several apps).
	Hostname string
	// Name identifies the object in messages: "app.example.com path /api",
	// "A app.example.com 192.0.2.1", a policy's name.
	Name string
	// Detail says what an update changes ("content 192.0.2.1 → 192.0.2.2").
	Detail string
	// Owner is the claim the object is written for; zero for a delete
	// (nothing claims it any more) and for shared objects.
	Owner messages.Owner
}

// String is the change as one line of a log or the plan preview.
func (c Change) String() string {
	s := c.Name
	if c.Detail != "" {
		s += ": " + c.Detail
	}
	return s
}

// ConflictKind says why a desired object was not written, or what was
// found that Labelgate will not touch.
type ConflictKind string

// The kinds of conflict a planner reports.
const (
	// Foreign: an object Labelgate does not own (or may not delete: an
	// orphan, one the sync policy keeps) is in the way; it is left alone
	// and the desired object is not written.
	Foreign ConflictKind = "foreign"
	// Orphan: an object carries Labelgate's marker but nothing claims it
	// and the store does not know it; it is left alone, never deleted.
	Orphan ConflictKind = "orphan"
	// Definition: two desired objects of one name differ (an Access policy
	// defined differently by two templates); the first is used.
	Definition ConflictKind = "definition"
	// Unplaced: a desired object has nowhere to go (no zone of any
	// credential contains its hostname).
	Unplaced ConflictKind = "unplaced"
)

// Conflict is one thing a planner could not do, or will not touch.
type Conflict struct {
	Kind   ConflictKind
	Object Object
	// Hostname is the hostname concerned; empty when the conflict is about
	// an object that serves none by itself (a policy name).
	Hostname string
	// Name identifies the object, as in Change.
	Name string
	// Reason is the sentence an operator reads.
	Reason string
}

// String is the conflict as one line.
func (c Conflict) String() string {
	if c.Name == "" {
		return c.Reason
	}
	return c.Name + ": " + c.Reason
}

// EventKind is the kind of the event that records the conflict.
func (c Conflict) EventKind() string {
	if c.Kind == Orphan {
		return "orphan"
	}
	return "conflict"
}

// Policy is what a planner may write (sync, upsert-only, create-only) and
// whether the start-up settle point has passed.
type Policy struct {
	// Mode is sync, upsert-only or create-only ("" is sync).
	Mode string
	// Settled is false before the settle point: nothing is deleted then.
	Settled bool
}

// Allows reports whether the policy lets a change through. Creates always
// pass; updates unless create-only; deletes only in sync mode after the
// settle point.
func (p Policy) Allows(c Change) bool {
	switch c.Action {
	case Update:
		return p.Mode != "create-only"
	case Delete:
		return p.Settled && (p.Mode == "" || p.Mode == "sync")
	}
	return true
}
