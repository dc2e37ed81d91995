package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labelgate/labelgate/metrics"
)

// Limits and timeouts of the HTTP surface.
const (
	// MaxBodyBytes is the largest request body accepted; larger → 413.
	MaxBodyBytes = 64 << 10

	// backendTimeout bounds one Backend call of a page or API request.
	// Reads of live Cloudflare state may wait for the API budget.
	backendTimeout = 20 * time.Second
	// healthTimeout bounds Backend.Health for /readyz.
	healthTimeout = 3 * time.Second

	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second // > backendTimeout, so a slow backend still gets its 504 out
	idleTimeout       = 120 * time.Second
	shutdownTimeout   = 10 * time.Second
)

// Config is what New needs.
type Config struct {
	// Backend answers every read and action. Required.
	Backend Backend
	// Metrics is served on /metrics together with the Backend gauges. Give
	// the same Metrics to the actors; nil creates a private one (the event
	// metrics then stay empty).
	Metrics *metrics.Metrics
	// Token (LABELGATE_API_TOKEN) enables actions and protects reads; empty
	// makes the API and dashboard read-only and open.
	Token string
	// BehindTLS (LABELGATE_API_BEHIND_TLS): clients reach main through a
	// TLS-terminating proxy, so the session cookie is always marked Secure.
	// Without it the cookie is Secure only on requests main received over
	// TLS itself.
	BehindTLS bool
	// Version is shown in the dashboard and /healthz.
	Version string
	// Logger receives request failures and actions; nil discards.
	Logger *slog.Logger
}

// server holds the handlers' shared state. Everything in it is read-only
// after New, except the auth's session list and failure throttle, which
// lock themselves; handlers run concurrently.
type server struct {
	backend Backend
	metrics *metrics.Metrics
	auth    *auth
	version string
	logger  *slog.Logger
	now     func() time.Time
	pages   pages
	mux     *http.ServeMux
	// crossOrigin refuses state-changing browser requests from other
	// origins (Sec-Fetch-Site, else Origin against Host).
	crossOrigin *http.CrossOriginProtection
}

// New returns main's HTTP handler: health, metrics, the REST API and the
// dashboard.
func New(cfg Config) http.Handler {
	return newServer(cfg, time.Now)
}

func newServer(cfg Config, now func() time.Time) *server {
	if cfg.Backend == nil {
		panic("web.New: Config.Backend is nil")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := cfg.Metrics
	if m == nil {
		m = metrics.New()
	}
	logger = logger.With("component", "web")
	s := &server{
		backend: cfg.Backend,
		metrics: m,
		auth:    newAuth(cfg.Token, cfg.BehindTLS, now, logger),
		version: cfg.Version,
		logger:  logger,
		now:     now,
		mux:     http.NewServeMux(),

		crossOrigin: http.NewCrossOriginProtection(),
	}
	s.pages = parsePages(s.templateFuncs())
	s.routes()
	return s
}

func (s *server) routes() {
	mux := s.mux
	// Unauthenticated: probes and scrapers carry no token.
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", metricsHandler(s.metrics, s.backend, s.logger, s.now))

	s.apiRoutes()
	s.dashboardRoutes()
}

// ServeHTTP applies what every response shares (body limit, headers) and
// turns the mux's own 404/405 into our error formats.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	if r.ContentLength > MaxBodyBytes {
		s.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body is larger than %d bytes", MaxBodyBytes))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)

	handler, pattern := s.mux.Handler(r)
	if pattern != "" {
		// Serve through the mux so that r.PathValue is populated.
		s.mux.ServeHTTP(w, r)
		return
	}
	// No route: let the mux decide between 404, 405 (with Allow) and a
	// redirect, then answer in our format.
	rec := &statusRecorder{header: http.Header{}}
	handler.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusNotFound:
		s.fail(w, r, http.StatusNotFound, "there is no such page or endpoint: "+r.URL.Path)
	case http.StatusMethodNotAllowed:
		h.Set("Allow", rec.header.Get("Allow"))
		s.fail(w, r, http.StatusMethodNotAllowed, r.Method+" is not allowed here; allowed: "+rec.header.Get("Allow"))
	default:
		for k, v := range rec.header {
			h[k] = v
		}
		w.WriteHeader(rec.status)
	}
}

// statusRecorder captures the mux's fallback answer.
type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header { return r.header }
func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return len(b), nil
}
func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

// fail answers an error in the format of the part of the site asked: JSON
// under /api/ and for probes, an HTML page otherwise.
func (s *server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if isAPIPath(r.URL.Path) {
		writeJSONError(w, status, msg)
		return
	}
	s.renderError(w, r, status, msg)
}

// backendFailure maps a Backend error to a status code and a message.
func backendFailure(err error, what string) (int, string) {
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, what + ": " + err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, what + ": main did not answer within " + backendTimeout.String()
	case errors.Is(err, context.Canceled):
		// The client went away; the status is never seen.
		return 499, what + ": the request was cancelled"
	default:
		return http.StatusInternalServerError, what + ": " + err.Error()
	}
}

// logFailure logs a failed request at a level fitting its status.
func (s *server) logFailure(r *http.Request, status int, msg string) {
	level := slog.LevelDebug
	if status >= 500 && status != 499 {
		level = slog.LevelWarn
	}
	s.logger.Log(r.Context(), level, "request failed", "method", r.Method, "path", r.URL.Path,
		"status", status, "error", msg)
}

// Serve serves h on addr until ctx is done, then shuts down gracefully:
// in-flight requests get shutdownTimeout to finish. It returns nil after a
// shutdown caused by ctx, or the error that stopped the server.
func Serve(ctx context.Context, addr string, h http.Handler, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    MaxBodyBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	logger.Info("serving http", "address", ln.Addr().String())

	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serving http on %s: %w", addr, err)
	case <-ctx.Done():
	}

	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		closeErr := srv.Close()
		if serveErr := <-done; !errors.Is(serveErr, http.ErrServerClosed) {
			closeErr = errors.Join(closeErr, serveErr)
		}
		return errors.Join(fmt.Errorf("shutting down http on %s: %w", addr, err), closeErr)
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving http on %s: %w", addr, err)
	}
	logger.Info("http stopped", "address", ln.Addr().String())
	return nil
}
