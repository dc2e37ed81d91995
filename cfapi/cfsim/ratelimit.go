package cfsim

import "time"

// RateLimit is Cloudflare's per-token budget: Requests per sliding Window;
// the request that exceeds it locks the whole token out for Lockout
// (Cloudflare: 1,200 per 300 s, then blocked for 5 minutes).
type RateLimit struct {
	Requests int
	Window   time.Duration
	Lockout  time.Duration
}

type rateState struct {
	hits        []time.Time // accepted requests inside the window, oldest first
	lockedUntil time.Time
}

// allow counts one request of tok and reports whether it may proceed, or
// how long the token stays locked out. Called with s.mu held.
func (s *Server) allow(tok *tokenInfo) (time.Duration, bool) {
	if s.rl.Requests <= 0 {
		return 0, true
	}
	now := s.now()
	rs := s.rate[tok.ID]
	if rs == nil {
		rs = &rateState{}
		s.rate[tok.ID] = rs
	}
	if now.Before(rs.lockedUntil) {
		return rs.lockedUntil.Sub(now), false
	}
	cut := now.Add(-s.rl.Window)
	i := 0
	for i < len(rs.hits) && !rs.hits[i].After(cut) {
		i++
	}
	rs.hits = rs.hits[i:]
	if len(rs.hits) >= s.rl.Requests {
		rs.lockedUntil = now.Add(s.rl.Lockout)
		rs.hits = rs.hits[:0]
		return s.rl.Lockout, false
	}
	rs.hits = append(rs.hits, now)
	return 0, true
}

// SetRateLimit changes the budget and clears every token's counters.
func (s *Server) SetRateLimit(rl RateLimit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rl.Lockout <= 0 {
		rl.Lockout = rl.Window
	}
	s.rl = rl
	s.rate = map[string]*rateState{}
}

// RateLimitSettings returns the current budget.
func (s *Server) RateLimitSettings() RateLimit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rl
}

// ResetRateLimit clears every token's counters and lockouts.
func (s *Server) ResetRateLimit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rate = map[string]*rateState{}
}
