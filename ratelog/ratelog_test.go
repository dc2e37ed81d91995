package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// syncBuffer is a log sink the timer goroutine and the test share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := strings.TrimSpace(b.buf.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// TestFloodIsSummarized: 2,000 lines in a burst write the burst, then one
// summary line that counts the rest; nothing is lost and nothing floods.
func TestFloodIsSummarized(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out syncBuffer
		l := New(slog.New(slog.NewTextHandler(&out, nil)), slog.LevelWarn, "handshake refused", 10*time.Second, 3)
		written := 0
		for i := range 2000 {
			if l.Log("remote", "10.0.0.1", "n", i) {
				written++
			}
		}
		if written != 3 {
			t.Errorf("%d lines written at once, want the burst of 3", written)
		}
		if got := l.Held(); got != 1997 {
			t.Errorf("Held() = %d, want 1997", got)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		lines := out.lines()
		if len(lines) != 4 {
			t.Fatalf("%d log lines, want 3 and a summary:\n%s", len(lines), strings.Join(lines, "\n"))
		}
		sum := lines[3]
		for _, want := range []string{"suppressed=1997", "n=1999", "level=WARN"} {
			if !strings.Contains(sum, want) {
				t.Errorf("summary %q lacks %q", sum, want)
			}
		}
		if l.Held() != 0 {
			t.Errorf("Held() = %d after the summary, want 0", l.Held())
		}
	})
}

// TestQuietLinesPass: lines within the budget are all written, and no
// summary follows.
func TestQuietLinesPass(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out syncBuffer
		l := New(slog.New(slog.NewTextHandler(&out, nil)), slog.LevelInfo, "refused", time.Second, 1)
		for range 5 {
			if !l.Log() {
				t.Fatal("a line within the budget was held back")
			}
			time.Sleep(time.Second)
		}
		synctest.Wait()
		if n := len(out.lines()); n != 5 {
			t.Errorf("%d lines, want 5", n)
		}
	})
}
