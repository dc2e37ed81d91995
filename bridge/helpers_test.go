package bridge

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/labelgate/labelgate/messages"
)

var (
	agentKey   = Key{Name: "docker-host-1", Token: []byte("agent-1-token-0123456789abcdef")}
	agent2Key  = Key{Name: "docker-host-2", Token: []byte("agent-2-token-0123456789abcdef")}
	wrongToken = []byte("not-the-token-0123456789abcdef")
	mainKey    = Key{Name: "main", Token: agentKey.Token} // the agent's view of the same token
)

// waitFor bounds every wait in these tests.
const waitFor = 5 * time.Second

type testListener struct {
	url      string
	accepted chan *Conn
}

// startListener serves a Listener on a loopback port until the test ends.
// Without an Accept in cfg, accepted connections arrive on tl.accepted.
func startListener(t *testing.T, cfg ListenConfig, tlsCfg *tls.Config) *testListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	cfg.TLS, cfg.RequireTLS = tlsCfg, tlsCfg != nil
	tl := serveOn(t, cfg, ln)
	scheme := "ws"
	if tlsCfg != nil {
		scheme = "wss"
	}
	tl.url = scheme + "://" + ln.Addr().String()
	return tl
}

// serveOn serves a Listener on ln until the test ends; tl.url is left empty.
func serveOn(t *testing.T, cfg ListenConfig, ln net.Listener) *testListener {
	t.Helper()
	_, tl := serveListener(t, cfg, ln)
	return tl
}

// serveListener is serveOn that returns the Listener too. Without an Accept
// in cfg, accepted connections arrive on tl.accepted.
func serveListener(t *testing.T, cfg ListenConfig, ln net.Listener) (*Listener, *testListener) {
	t.Helper()
	tl := &testListener{accepted: make(chan *Conn, 8)}
	if cfg.Accept == nil {
		cfg.Accept = func(c *Conn) error {
			closeAtEnd(t, c)
			tl.accepted <- c
			return nil
		}
	}
	l, err := NewListener(cfg)
	if err != nil {
		t.Fatalf("NewListener: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return l, tl
}

func (tl *testListener) next(t *testing.T) *Conn {
	t.Helper()
	return receive(t, tl.accepted, "connection accepted")
}

// receive returns the next value on ch, or fails the test after waitFor.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatalf("no %s within %s", what, waitFor)
		panic("unreachable")
	}
}

func (tl *testListener) none(t *testing.T) {
	t.Helper()
	select {
	case c := <-tl.accepted:
		t.Fatalf("listener accepted a connection from %+v, want none", c.Peer())
	default:
	}
}

func closeAtEnd(t *testing.T, c *Conn) {
	t.Cleanup(func() {
		c.Close(CodeGoingAway, "test over")
		<-c.Done()
	})
}

func mustDial(t *testing.T, cfg DialConfig) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	closeAtEnd(t, c)
	return c
}

func dialErr(t *testing.T, cfg DialConfig) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, err := Dial(ctx, cfg)
	if err == nil {
		closeAtEnd(t, c)
		t.Fatalf("Dial succeeded (peer %+v), want an error", c.Peer())
	}
	return err
}

// wantClose checks that err wraps a *CloseError with code and who.
func wantClose(t *testing.T, err error, code CloseCode, remote bool) {
	t.Helper()
	var ce *CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *CloseError", err, err)
	}
	if ce.Code != code || ce.Remote != remote {
		t.Fatalf("close error %v: got code %d remote %v, want code %d remote %v", err, ce.Code, ce.Remote, code, remote)
	}
}

// wantCloseError is wantClose that also returns the *CloseError, for a
// test that checks more of it.
func wantCloseError(t *testing.T, err error, code CloseCode, remote bool) *CloseError {
	t.Helper()
	wantClose(t, err, code, remote)
	var ce *CloseError
	errors.As(err, &ce)
	return ce
}

func waitDone(t *testing.T, c *Conn) error {
	t.Helper()
	select {
	case <-c.Done():
		return c.Err()
	case <-time.After(waitFor):
		t.Fatal("connection did not end")
		return nil
	}
}

func recvFrame(t *testing.T, c *Conn) Frame {
	t.Helper()
	select {
	case f, ok := <-c.Recv():
		if !ok {
			t.Fatalf("Recv closed: %v", waitDone(t, c))
		}
		return f
	case <-time.After(waitFor):
		t.Fatal("no frame received")
		return Frame{}
	}
}

// rawDial connects and runs the dialer's side of the handshake without
// starting the connection's goroutines: the test then drives the socket.
func rawDial(t *testing.T, url string, role Role, key Key) *Conn {
	t.Helper()
	ws, _, err := (&websocket.Dialer{}).Dial(url, nil)
	if err != nil {
		t.Fatalf("websocket dial: %v", err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	c := newConn(ws, role, Options{}.withDefaults())
	if _, err := c.dialerHandshake(key, nil, false, time.Now().Add(waitFor)); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return c
}

// rawServer serves handler (which gets a fresh, unstarted Conn) on a loopback
// port: a hand-driven listener for misbehaving-listener tests.
func rawServer(t *testing.T, role Role, handler func(c *Conn)) string {
	t.Helper()
	up := websocket.Upgrader{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer func() { _ = ws.Close() }()
		handler(newConn(ws, role, Options{}.withDefaults()))
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	go func() { _ = srv.Serve(ln) }() // ErrServerClosed once the test ends
	t.Cleanup(func() { _ = srv.Close() })
	return "ws://" + ln.Addr().String()
}

// readPeerClose reads until the peer's close frame, answers it as a
// well-behaved peer does, and returns it with the frames read before it.
func readPeerClose(t *testing.T, ws *websocket.Conn) (*websocket.CloseError, []string) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(waitFor))
	var frames []string
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("reading: %v, want a close frame", err)
			}
			// Best effort: the peer may have dropped the socket already.
			_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(ce.Code, ""), time.Now().Add(time.Second))
			return ce, frames
		}
		frames = append(frames, string(data))
	}
}

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, as PEM files.
type testPKI struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
}

func newTestPKI(t *testing.T, name string) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name + " test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := &testPKI{caFile: filepath.Join(dir, "ca.pem")}
	writePEM(t, p.caFile, "CERTIFICATE", caDER)

	issue := func(file string, serial int64, usage x509.ExtKeyUsage, ips []net.IP) (string, string) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: file},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
			DNSNames:     []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		certFile, keyFile := filepath.Join(dir, file+".pem"), filepath.Join(dir, file+"-key.pem")
		writePEM(t, certFile, "CERTIFICATE", der)
		writePEM(t, keyFile, "PRIVATE KEY", keyDER)
		return certFile, keyFile
	}
	p.serverCert, p.serverKey = issue("server", 2, x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	p.clientCert, p.clientKey = issue("client", 3, x509.ExtKeyUsageClientAuth, nil)
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t *testing.T, file, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// testContainers builds n containers with the labels a compose-managed,
// labelgate-labelled service really carries.
func testContainers(n int) []messages.Container {
	cs := make([]messages.Container, n)
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range cs {
		svc := fmt.Sprintf("service-%04d", i)
		id := strings.Repeat(fmt.Sprintf("%08x", i), 8)
		cs[i] = messages.Container{
			ID:   id,
			Name: "project-" + svc + "-1",
			Labels: map[string]string{
				"com.docker.compose.config-hash":          strings.Repeat("ab12", 16),
				"com.docker.compose.container-number":     "1",
				"com.docker.compose.depends_on":           "",
				"com.docker.compose.image":                "sha256:" + strings.Repeat("cd34", 16),
				"com.docker.compose.oneoff":               "False",
				"com.docker.compose.project":              "project",
				"com.docker.compose.project.config_files": "/srv/project/compose.yaml",
				"com.docker.compose.project.working_dir":  "/srv/project",
				"com.docker.compose.service":              svc,
				"com.docker.compose.version":              "2.29.7",
				"org.opencontainers.image.source":         "https://github.com/example/" + svc,
				"labelgate.tunnel.web.hostname":           svc + ".apps.example.com",
				"labelgate.tunnel.web.service":            "http://" + svc + ":8080",
				"labelgate.tunnel.web.access":             "employees",
				"labelgate.dns.api.hostname":              "api-" + svc + ".example.com",
				"labelgate.dns.api.target":                "auto",
			},
			State:  "running",
			Health: "healthy",
			Networks: []messages.Network{
				{Name: "project_default", IPv4: fmt.Sprintf("172.18.%d.%d", i/250, i%250+2)},
				{Name: "traefik", IPv4: fmt.Sprintf("172.19.%d.%d", i/250, i%250+2), IPv6: "fd00::" + fmt.Sprint(i+2)},
			},
			Created: created.Add(time.Duration(i) * time.Minute),
			Started: created.Add(time.Duration(i)*time.Minute + 3*time.Second),
		}
	}
	return cs
}

func testSet(version uint64, n int) messages.ContainerSet {
	return messages.ContainerSet{
		Source:     "whatever-the-agent-says",
		Version:    version,
		Containers: testContainers(n),
		ObservedAt: time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC),
	}
}
