package publicip

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// DefaultSources answer with the caller's address, as plain text or in
// Cloudflare's trace format (`ip=…` lines). All are dual-stack.
var DefaultSources = []string{
	"https://cloudflare.com/cdn-cgi/trace",
	"https://icanhazip.com",
	"https://api64.ipify.org",
}

// Family is an address family.
type Family string

// The two families.
const (
	IPv4 Family = "tcp4"
	IPv6 Family = "tcp6"
)

// Discoverer finds public addresses.
type Discoverer struct {
	Sources []string
	// Timeout bounds each source's request.
	Timeout time.Duration
	// Dial is the dialer used for sources; tests may replace it. It is
	// called with the family's network ("tcp4" or "tcp6").
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Lookup returns the public address of one family, or an error saying why
// none could be trusted.
func (d Discoverer) Lookup(ctx context.Context, fam Family) (netip.Addr, error) {
	sources := d.Sources
	if len(sources) == 0 {
		sources = DefaultSources
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	dial := d.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: timeout}).DialContext
	}
	client := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
				return dial(ctx, string(fam), addr)
			},
			TLSHandshakeTimeout: timeout,
			DisableKeepAlives:   true,
		},
	}
	defer client.CloseIdleConnections()

	votes := map[netip.Addr]int{}
	var errs []error
	answered := 0
	for _, src := range sources {
		ip, err := ask(ctx, client, src, fam)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", src, err))
			continue
		}
		answered++
		votes[ip]++
		if votes[ip] >= 2 {
			return ip, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	switch {
	case answered == 1:
		for ip := range votes {
			return ip, nil // the only source that answered
		}
	case answered > 1:
		return netip.Addr{}, fmt.Errorf("sources disagree on the public %s address (%v); keeping records unchanged", famName(fam), votes)
	}
	return netip.Addr{}, fmt.Errorf("no source answered with a public %s address: %w", famName(fam), errors.Join(errs...))
}

func famName(f Family) string {
	if f == IPv6 {
		return "IPv6"
	}
	return "IPv4"
}

func ask(ctx context.Context, c *http.Client, src string, fam Family) (netip.Addr, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return netip.Addr{}, err
	}
	req.Header.Set("User-Agent", "labelgate")
	res, err := c.Do(req)
	if err != nil {
		return netip.Addr{}, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return netip.Addr{}, fmt.Errorf("status %s", res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, 4096))
	if err != nil {
		return netip.Addr{}, err
	}
	return Parse(string(body), fam)
}

// Parse reads an address from a source's answer (plain text or `ip=` trace
// lines) and checks that it is a public address of the family.
func Parse(body string, fam Family) (netip.Addr, error) {
	text := strings.TrimSpace(body)
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "ip="); ok {
			text = strings.TrimSpace(v)
			break
		}
	}
	ip, err := netip.ParseAddr(text)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("answer %.40q is not an IP address", text)
	}
	ip = ip.Unmap()
	switch {
	case fam == IPv4 && !ip.Is4(), fam == IPv6 && !ip.Is6():
		return netip.Addr{}, fmt.Errorf("answer %s is not an %s address", ip, famName(fam))
	case !ip.IsGlobalUnicast() || ip.IsPrivate():
		return netip.Addr{}, fmt.Errorf("answer %s is not a public address", ip)
	}
	return ip, nil
}
