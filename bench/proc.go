package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat: USER_HZ, which
// the kernel fixes at 100 for every architecture's user-visible interface.
const userHZ = 100

// ProcSample is one reading of a process from /proc.
type ProcSample struct {
	At  time.Time
	RSS int64 // VmRSS, bytes
	// RSSAnon and RSSFile split VmRSS: anonymous memory (heap, stacks,
	// the runtime) and file-backed pages (the binary's text and data).
	RSSAnon, RSSFile int64
	CPU              time.Duration // utime + stime since the process started
}

// ReadProc reads a process's resident set (VmRSS of /proc/<pid>/status)
// and CPU time (utime + stime of /proc/<pid>/stat).
func ReadProc(pid int) (ProcSample, error) {
	s := ProcSample{At: time.Now()}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("reading the status of process %d: %w", pid, err)
	}
	for line := range strings.Lines(string(status)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &s.RSS
		case "RssAnon":
			dst = &s.RSSAnon
		case "RssFile":
			dst = &s.RSSFile
		default:
			continue
		}
		if fs := strings.Fields(v); len(fs) > 0 {
			kb, _ := strconv.ParseInt(fs[0], 10, 64)
			*dst = kb * 1024
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("reading the stat of process %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces; fields count from after
	// its closing parenthesis: state is field 3, utime 14, stime 15.
	rest := string(stat)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	fs := strings.Fields(rest)
	if len(fs) < 13 {
		return s, fmt.Errorf("process %d: unexpected /proc stat line", pid)
	}
	utime, _ := strconv.ParseInt(fs[11], 10, 64)
	stime, _ := strconv.ParseInt(fs[12], 10, 64)
	s.CPU = time.Duration(utime+stime) * time.Second / userHZ
	return s, nil
}

// CPUPercent is the CPU used between two samples as a share of one core.
func CPUPercent(a, b ProcSample) float64 {
	wall := b.At.Sub(a.At)
	if wall <= 0 {
		return 0
	}
	return 100 * float64(b.CPU-a.CPU) / float64(wall)
}

// Sampler reads a process every interval until stopped, keeping the peak
// RSS and every sample.
type Sampler struct {
	pid    int
	mu     sync.Mutex
	all    []ProcSample
	peak   int64
	cancel context.CancelFunc
	done   chan struct{}
}

// StartSampler samples pid every interval in a goroutine.
func StartSampler(pid int, interval time.Duration) *Sampler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sampler{pid: pid, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if ps, err := ReadProc(pid); err == nil {
				s.mu.Lock()
				s.all = append(s.all, ps)
				s.peak = max(s.peak, ps.RSS)
				s.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends sampling.
func (s *Sampler) Stop() {
	s.cancel()
	<-s.done
}

// Peak is the largest RSS seen so far.
func (s *Sampler) Peak() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// Samples returns a copy of every sample so far.
func (s *Sampler) Samples() []ProcSample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.all)
}

// Last is the latest sample.
func (s *Sampler) Last() (ProcSample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.all) == 0 {
		return ProcSample{}, false
	}
	return s.all[len(s.all)-1], true
}

// MB formats bytes as MiB with one decimal.
func MB(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
