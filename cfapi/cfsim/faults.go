package cfsim

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Faults are failures injected in front of the API. Each request (admin
// endpoints excluded) whose path starts with PathPrefix, if set, is checked
// in this order: dropped connection, latency, 429 storm, 5xx.
type Faults struct {
	// ErrorRate is the share (0..1) of requests answered with ErrorStatus.
	ErrorRate float64
	// FailNext answers the next N requests with ErrorStatus.
	FailNext int
	// ErrorStatus is the injected status (default 500).
	ErrorStatus int
	// Latency is added to every request.
	Latency time.Duration
	// DropRate is the share of requests whose connection is closed without
	// an answer; DropNext drops the next N.
	DropRate float64
	DropNext int
	// Storm429For answers every request with 429 for this long (from the
	// moment the faults are set); Storm429Next answers the next N with 429.
	Storm429For  time.Duration
	Storm429Next int
	// StormRetryAfter is the Retry-After sent during a storm (default 60 s).
	StormRetryAfter time.Duration
	// PathPrefix limits the faults to matching API paths, e.g. "/zones".
	PathPrefix string
	// Seed seeds the random choices for ErrorRate and DropRate.
	Seed uint64
}

type faultKind int

const (
	faultNone faultKind = iota
	faultDrop
	faultStorm
	faultError
)

type pickedFault struct {
	kind       faultKind
	status     int
	retryAfter time.Duration
}

// faultState has its own lock: faults are picked before the API lock is
// taken, so injected latency does not serialise other requests.
type faultState struct {
	mu         sync.Mutex
	f          Faults
	stormUntil time.Time
	rng        *rand.Rand
}

func (fs *faultState) init(seed uint64) {
	fs.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// SetFaults replaces the injected faults (the zero value switches them off).
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	now := s.now()
	s.mu.Unlock()
	fs := &s.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f.ErrorStatus == 0 {
		f.ErrorStatus = http.StatusInternalServerError
	}
	if f.StormRetryAfter <= 0 {
		f.StormRetryAfter = 60 * time.Second
	}
	fs.f = f
	fs.stormUntil = time.Time{}
	if f.Storm429For > 0 {
		fs.stormUntil = now.Add(f.Storm429For)
	}
	fs.init(f.Seed + 1)
}

// CurrentFaults returns the faults in force (counters as they are now).
func (s *Server) CurrentFaults() Faults {
	fs := &s.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.f
}

func (s *Server) pickFault(path string) (pickedFault, time.Duration) {
	s.mu.Lock()
	now := s.now()
	s.mu.Unlock()
	fs := &s.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f := &fs.f
	if f.PathPrefix != "" && !strings.HasPrefix(path, f.PathPrefix) {
		return pickedFault{}, 0
	}
	delay := f.Latency
	switch {
	case f.DropNext > 0:
		f.DropNext--
		return pickedFault{kind: faultDrop}, delay
	case f.DropRate > 0 && fs.rng.Float64() < f.DropRate:
		return pickedFault{kind: faultDrop}, delay
	case f.Storm429Next > 0:
		f.Storm429Next--
		return pickedFault{kind: faultStorm, retryAfter: f.StormRetryAfter}, delay
	case now.Before(fs.stormUntil):
		return pickedFault{kind: faultStorm, retryAfter: min(f.StormRetryAfter, fs.stormUntil.Sub(now))}, delay
	case f.FailNext > 0:
		f.FailNext--
		return pickedFault{kind: faultError, status: f.ErrorStatus}, delay
	case f.ErrorRate > 0 && fs.rng.Float64() < f.ErrorRate:
		return pickedFault{kind: faultError, status: f.ErrorStatus}, delay
	}
	return pickedFault{}, delay
}
