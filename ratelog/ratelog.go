package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Line is one kind of log line (one message text) with a budget: Burst lines
// at once, then one per Every. Lines over the budget are counted, and the
// count is written as one summary line Every after the first of them.
type Line struct {
	log   *slog.Logger
	level slog.Level
	msg   string
	every time.Duration
	lim   *rate.Limiter

	mu      sync.Mutex
	held    int         // lines held back since the last summary
	pending *time.Timer // the summary's timer while lines are held back
	last    []any       // the attributes of the last line held back
}

// New returns a Line that writes msg at level to log, burst lines at once
// and then at most one per every.
func New(log *slog.Logger, level slog.Level, msg string, every time.Duration, burst int) *Line {
	return &Line{log: log, level: level, msg: msg, every: every, lim: rate.NewLimiter(rate.Every(every), burst)}
}

// Log writes the line with args, or holds it back when the budget is spent.
// It reports whether the line was written.
func (l *Line) Log(args ...any) bool {
	if l.lim.Allow() {
		l.log.Log(context.Background(), l.level, l.msg, args...)
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held++
	l.last = args
	if l.pending == nil {
		l.pending = time.AfterFunc(l.every, l.summarize)
	}
	return false
}

// summarize writes how many lines were held back, with the attributes of the
// last of them as an example.
func (l *Line) summarize() {
	l.mu.Lock()
	n, last := l.held, l.last
	l.held, l.last, l.pending = 0, nil, nil
	l.mu.Unlock()
	if n == 0 {
		return
	}
	args := append([]any{"suppressed", n, "window", l.every}, last...)
	l.log.Log(context.Background(), l.level, l.msg+" (more like this were suppressed; the last one follows)", args...)
}

// Held reports how many lines are held back and not yet summarized.
func (l *Line) Held() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held
}
