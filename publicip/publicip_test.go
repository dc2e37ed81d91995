package publicip

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		body string
		fam  Family
		want string
		err  string
	}{
		{body: "203.0.113.7\n", fam: IPv4, want: "203.0.113.7"},
		{body: "fl=1\nh=cloudflare.com\nip=198.51.100.20\nts=1\n", fam: IPv4, want: "198.51.100.20"},
		{body: "2001:db8:1::5", fam: IPv6, want: "2001:db8:1::5"},
		{body: "::ffff:203.0.113.7", fam: IPv4, want: "203.0.113.7"},
		{body: "203.0.113.7", fam: IPv6, err: "not an IPv6"},
		{body: "192.168.1.2", fam: IPv4, err: "not a public"},
		{body: "127.0.0.1", fam: IPv4, err: "not a public"},
		{body: "<html>rate limited</html>", fam: IPv4, err: "not an IP address"},
		{body: "", fam: IPv4, err: "not an IP address"},
	}
	for _, tc := range tests {
		got, err := Parse(tc.body, tc.fam)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Parse(%q): err %v, want %q", tc.body, err, tc.err)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %s", tc.body, got, err, tc.want)
		}
	}
}

// sources starts one test server per answer and returns their URLs.
func sources(t *testing.T, answers ...string) []string {
	var urls []string
	for _, a := range answers {
		a := a
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if a == "500" {
				http.Error(w, "down", http.StatusInternalServerError)
				return
			}
			fmt.Fprintln(w, a)
		}))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	return urls
}

// loopback dials the test servers whatever the family asked for.
func loopback(ctx context.Context, _, addr string) (net.Conn, error) {
	return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
}

func TestLookupVotes(t *testing.T) {
	tests := []struct {
		name    string
		answers []string
		want    string
		err     string
	}{
		{name: "two agree", answers: []string{"203.0.113.7", "203.0.113.7", "198.51.100.1"}, want: "203.0.113.7"},
		{name: "first fails", answers: []string{"500", "203.0.113.7", "203.0.113.7"}, want: "203.0.113.7"},
		{name: "majority", answers: []string{"203.0.113.7", "198.51.100.1", "203.0.113.7"}, want: "203.0.113.7"},
		{name: "only one answers", answers: []string{"500", "garbage", "203.0.113.9"}, want: "203.0.113.9"},
		{name: "disagree", answers: []string{"203.0.113.7", "198.51.100.1"}, err: "disagree"},
		{name: "none", answers: []string{"500", "10.0.0.1"}, err: "no source answered"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Discoverer{Sources: sources(t, tc.answers...), Dial: loopback}
			got, err := d.Lookup(context.Background(), IPv4)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got.String() != tc.want {
				t.Fatalf("got %v, %v; want %s", got, err, tc.want)
			}
		})
	}
}

func TestLookupForcesFamily(t *testing.T) {
	var networks []string
	d := Discoverer{Sources: sources(t, "2001:db8::7"), Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		networks = append(networks, network)
		return loopback(ctx, network, addr)
	}}
	if _, err := d.Lookup(context.Background(), IPv6); err != nil {
		t.Fatal(err)
	}
	if len(networks) != 1 || networks[0] != "tcp6" {
		t.Fatalf("dialed %v, want tcp6", networks)
	}
}
