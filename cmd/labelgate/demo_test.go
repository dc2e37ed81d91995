package main

import "testing"

// TestDashboardURL: the demo prints a URL a browser on this machine can
// open, whatever host LABELGATE_API_ADDRESS carries (issue 12, point 8).
func TestDashboardURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ address, want string }{
		{":8080", "http://localhost:8080/"},
		{"127.0.0.1:28080", "http://127.0.0.1:28080/"},
		{"0.0.0.0:28080", "http://localhost:28080/"},
		{"[::]:28080", "http://localhost:28080/"},
		{"[::1]:28080", "http://[::1]:28080/"},
		{"[2001:db8::7]:443", "http://[2001:db8::7]:443/"},
		{"[fe80::1%eth0]:28080", "http://[fe80::1%25eth0]:28080/"},
		{"localhost:9000", "http://localhost:9000/"},
		{"labelgate.internal:8080", "http://labelgate.internal:8080/"},
	} {
		if got := dashboardURL(tc.address); got != tc.want {
			t.Errorf("dashboardURL(%q) = %q, want %q", tc.address, got, tc.want)
		}
	}
}
