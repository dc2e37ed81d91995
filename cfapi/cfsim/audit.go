package cfsim

import (
	"net/http"
	"time"
)

// AuditEntry records one API request (admin requests are not recorded).
type AuditEntry struct {
	Seq    int       `json:"seq"`
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	Query  string    `json:"query,omitempty"`
	// Status is the HTTP status answered; 0 when the connection was dropped.
	Status   int `json:"status"`
	BodySize int `json:"body_size"`
	// Token is the name of the token used ("main" for the server's own),
	// empty when authentication failed.
	Token string `json:"token,omitempty"`
	// IDs are the objects a write created, changed or deleted.
	IDs []string `json:"ids,omitempty"`
	// Foreign is set when a write touched a seeded "someone else's" object.
	Foreign bool `json:"foreign,omitempty"`
	// Fault names an injected fault or the rate limit: "drop", "latency",
	// "429-storm", "5xx", "rate-limit".
	Fault string `json:"fault,omitempty"`
	// Header is the request's headers, credentials redacted.
	Header map[string][]string `json:"header,omitempty"`
}

// IsWrite reports whether the request was not a read.
func (e AuditEntry) IsWrite() bool { return e.Method != http.MethodGet && e.Method != http.MethodHead }

func (s *Server) appendAudit(e AuditEntry) {
	e.Seq = len(s.audit) + 1
	s.audit = append(s.audit, e)
}

// Audit returns a copy of the audit log, oldest first.
func (s *Server) Audit() []AuditEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]AuditEntry(nil), s.audit...)
}

// ResetAudit empties the audit log.
func (s *Server) ResetAudit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.audit = nil
}

// ForeignWrites returns the audit entries of successful writes that touched
// a foreign object — the list must stay empty for Labelgate.
func (s *Server) ForeignWrites() []AuditEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []AuditEntry
	for _, e := range s.audit {
		if e.Foreign && e.IsWrite() {
			out = append(out, e)
		}
	}
	return out
}
