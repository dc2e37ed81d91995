package cfapi

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// TestClassifyWithoutJSONBody: an error answer the SDK cannot decode (a
// proxy's HTML 502, an empty 429) is still classified by its status.
func TestClassifyWithoutJSONBody(t *testing.T) {
	t.Parallel()
	req := &http.Request{Method: "GET", URL: &url.URL{Path: "/zones"}}
	tests := []struct {
		status int
		header http.Header
		kind   error
		after  time.Duration
	}{
		{502, nil, ErrTransient, 0},
		{429, http.Header{"Retry-After": {"7"}}, ErrRateLimited, 7 * time.Second},
		{404, nil, ErrNotFound, 0},
		{418, nil, ErrValidation, 0},
	}
	for _, tc := range tests {
		res := &http.Response{StatusCode: tc.status, Header: tc.header, Request: req}
		if res.Header == nil {
			res.Header = http.Header{}
		}
		err := classify("list zones", errors.New("invalid character '<'"), res)
		var e *Error
		if !errors.Is(err, tc.kind) || !errors.As(err, &e) || e.StatusCode != tc.status || e.RetryAfter != tc.after || e.Path != "/zones" {
			t.Errorf("%d: %v", tc.status, err)
		}
	}
	// No response at all: transient, and the cause stays visible.
	err := classify("list zones", io.ErrUnexpectedEOF, nil)
	if !errors.Is(err, ErrTransient) || !errors.Is(err, io.ErrUnexpectedEOF) || !Retryable(err) {
		t.Errorf("no response: %v", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"":                              0,
		"120":                           120 * time.Second,
		"1.5":                           1500 * time.Millisecond,
		"-3":                            0,
		"soon":                          0,
		"Thu, 01 Jan 2026 00:01:00 GMT": time.Minute,
		"Wed, 31 Dec 2025 23:00:00 GMT": 0,
	}
	for in, want := range tests {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}
