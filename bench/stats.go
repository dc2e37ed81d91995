package bench

import (
	"math"
	"slices"
	"strconv"
	"time"
)

// Durations summarises a sample of durations.
type Durations struct {
	N   int           `json:"n"`
	Min time.Duration `json:"min"`
	P50 time.Duration `json:"p50"`
	P95 time.Duration `json:"p95"`
	Max time.Duration `json:"max"`
}

// Summarise computes nearest-rank percentiles of ds.
func Summarise(ds []time.Duration) Durations {
	if len(ds) == 0 {
		return Durations{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return Durations{N: len(s), Min: s[0], P50: percentile(s, 50), P95: percentile(s, 95), Max: s[len(s)-1]}
}

// percentile is the nearest-rank percentile of a sorted sample.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string {
	return formatFloat(float64(d)/float64(time.Millisecond), 0) + " ms"
}

// secs formats a duration in seconds with one decimal.
func secs(d time.Duration) string {
	return formatFloat(d.Seconds(), 1) + " s"
}

// formatFloat formats f with prec decimals.
func formatFloat(f float64, prec int) string { return strconv.FormatFloat(f, 'f', prec, 64) }
