package web

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// The browser driver for dashboard tests. It needs only a base URL, so the
// same helpers drive an httptest server over a fake Backend and a real main
// (an end-to-end test builds a browser with the URL of main's API address).
//
// Browser tests run only with LABELGATE_BROWSER_TESTS=1 (make test-browser),
// with Debian's chromium (or $LABELGATE_CHROMIUM) installed.

const browserTestsEnv = "LABELGATE_BROWSER_TESTS"

// requireBrowser skips the test unless browser tests are asked for, and
// fails it when they are asked for but no browser is installed.
func requireBrowser(t *testing.T) string {
	t.Helper()
	if os.Getenv(browserTestsEnv) != "1" {
		t.Skipf("browser test: set %s=1 (make test-browser) to run it", browserTestsEnv)
	}
	for _, name := range []string{os.Getenv("LABELGATE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Fatalf("%s=1 but no chromium is installed: apt-get install -y chromium (or set LABELGATE_CHROMIUM)", browserTestsEnv)
	return ""
}

// browser is one headless chromium tab pointed at a labelgate dashboard.
type browser struct {
	t    *testing.T
	ctx  context.Context // the tab; no deadline (it would end the browser)
	base string          // e.g. http://127.0.0.1:34567
}

// newBrowser starts chromium for the test; it stops when the test ends.
func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	execPath := requireBrowser(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.NoSandbox, // CI runs as root, where chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.WindowSize(1400, 1000),
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.WithoutCancel(t.Context()), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// The first run starts the browser; it must not carry a deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium (%s): %v", execPath, err)
	}
	return &browser{t: t, ctx: ctx, base: strings.TrimSuffix(base, "/")}
}

// do runs steps with a deadline, failing the test on error.
func (b *browser) do(what string, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %s: %v (page: %s)", what, err, b.location())
	}
}

// open navigates to a path of the dashboard.
func (b *browser) open(path string) {
	b.t.Helper()
	b.do("opening "+path, 20*time.Second, chromedp.Navigate(b.base+path))
}

// login logs in through the form and lands on next.
func (b *browser) login(token, next string) {
	b.t.Helper()
	b.do("logging in", 20*time.Second,
		chromedp.Navigate(b.base+"/login?next="+next),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS(`nav a[aria-current="page"]`)),
	)
}

// sessionCookie returns the value of the browser's session cookie for the
// dashboard (HttpOnly, so read through the DevTools protocol).
func (b *browser) sessionCookie() string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	res, err := chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{URLs: []string{b.base}})
	})
	if err != nil {
		b.t.Fatalf("browser: reading cookies: %v", err)
	}
	for _, c := range res.Cookies {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	b.t.Fatalf("browser: no %s cookie for %s", sessionCookie, b.base)
	return ""
}

// waitVisible waits until an element matching css is shown.
func (b *browser) waitVisible(css string, timeout time.Duration) {
	b.t.Helper()
	b.do("waiting for "+css, timeout, chromedp.WaitVisible(chromedp.CSS(css)))
}

// click clicks the first element matching css.
func (b *browser) click(css string) {
	b.t.Helper()
	b.do("clicking "+css, 10*time.Second, chromedp.Click(chromedp.CSS(css)))
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("browser: evaluating %s: %v", expr, err)
	}
	return v
}

// count returns how many elements match css.
func (b *browser) count(css string) int {
	b.t.Helper()
	return eval[int](b, fmt.Sprintf("document.querySelectorAll(%q).length", css))
}

func (b *browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "unknown"
	}
	return loc
}

// screenshot saves a full-page PNG as a test artifact and returns its path.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("browser: screenshot: %v", err)
	}
	dir := artifactsDir(b.t)
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatalf("saving the screenshot: %v", err)
	}
	b.t.Logf("screenshot: %s", path)
	return path
}

// artifactsDir is $LABELGATE_ARTIFACTS_DIR, else web/testdata/artifacts
// (ignored by git).
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("LABELGATE_ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("creating the artifacts directory: %v", err)
	}
	return dir
}
