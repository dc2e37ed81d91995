package web

import (
	"sync"
	"time"
)

// maxSessions caps the dashboard sessions main keeps. Only a login with the
// token creates one, so the cap is not needed against guessing; it keeps a
// script that logs in through the form in a loop from growing memory. At
// the cap, a new login ends the session that started first.
const maxSessions = 1000

// sessionStore is the server's list of live dashboard sessions: a session
// cookie is valid only while its session is listed here, so logging out
// ends it for every copy of the cookie, and a restart of main ends them
// all. It is safe for concurrent use.
type sessionStore struct {
	mu   sync.Mutex
	live map[string]liveSession // by nonce
	seq  uint64                 // logins so far: orders sessions by age
}

type liveSession struct {
	expires time.Time
	seq     uint64
}

func newSessionStore() *sessionStore {
	return &sessionStore{live: map[string]liveSession{}}
}

// add lists a new session. At the cap it first drops the expired sessions,
// then, if still full, the oldest one. The scans are linear, but only run
// at the cap, and maxSessions is small.
func (st *sessionStore) add(s session, now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.live) >= maxSessions {
		for n, ls := range st.live {
			if !now.Before(ls.expires) {
				delete(st.live, n)
			}
		}
	}
	if len(st.live) >= maxSessions {
		oldest, first := "", true
		for n, ls := range st.live {
			if first || ls.seq < st.live[oldest].seq {
				oldest, first = n, false
			}
		}
		delete(st.live, oldest)
	}
	st.seq++
	st.live[s.nonce] = liveSession{expires: s.expires, seq: st.seq}
}

// valid reports whether the session is listed and not expired; an expired
// one is dropped.
func (st *sessionStore) valid(s session, now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	ls, ok := st.live[s.nonce]
	if !ok {
		return false
	}
	if !now.Before(ls.expires) {
		delete(st.live, s.nonce)
		return false
	}
	return true
}

// end forgets a session (logout).
func (st *sessionStore) end(s session) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.live, s.nonce)
}

// len is the number of sessions listed (for tests).
func (st *sessionStore) len() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.live)
}
