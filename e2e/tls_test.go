package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// Agent TLS with real certificates, as docs/deploy.md describes it: a CA of
// the operator's, main's listener certificate and mTLS for an outbound
// agent, an inbound agent's own certificate pinned on main.

// testCA issues certificates for the TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lge2e test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns PEM certificate and key for a DNS name, usable as server
// and client certificate.
func (ca *testCA) issue(t *testing.T, name string, serial int64) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// certDir writes files readable by the image's user (65532) into a
// directory to mount at /certs.
func certDir(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestAgentTLSVerified: with the operator's certificates both connection
// modes end in tls_mode "verified" — an outbound agent over mTLS against
// main's certificate, an inbound agent whose certificate main pins with
// tls_ca.
func TestAgentTLSVerified(t *testing.T) {
	env := Setup(t)
	t.Parallel()
	ca := newTestCA(t)
	mainCert, mainKey := ca.issue(t, "tls", 2)
	outCert, outKey := ca.issue(t, "tls-out", 3)
	inCert, inKey := ca.issue(t, "tls-in", 4)
	dir := certDir(t, map[string][]byte{"ca.pem": ca.pem, "main.pem": mainCert, "main-key.pem": mainKey,
		"out.pem": outCert, "out-key.pem": outKey, "in.pem": inCert, "in-key.pem": inKey})
	const outToken, inToken = "lge2e-tls-outbound-token-0123456789", "lge2e-tls-inbound-token-0123456789"
	_, base := imageMain(t, env, "tls", mainOpts{binds: []string{dir + ":/certs:ro"}, env: []string{
		"LABELGATE_AGENT_ENABLED=true",
		"LABELGATE_AGENT_TLS_CERT=/certs/main.pem", "LABELGATE_AGENT_TLS_KEY=/certs/main-key.pem",
		"LABELGATE_AGENT_TLS_CLIENT_CA=/certs/ca.pem",
		"LABELGATE_AGENT_AGENTS={out: {token: " + outToken + "}, in: {token: " + inToken + ", connect_to: \"wss://tls-in:8082\", tls_ca: /certs/ca.pem}}",
	}})
	agent := func(name string, env2 ...string) {
		id := env.Start(Container{Name: name, Image: env.Image(), Networks: []string{env.Name("tls")},
			Binds: []string{SocketPath + ":" + SocketPath + ":ro", dir + ":/certs:ro"}, GroupAdd: []string{env.SocketGID()},
			Env: append([]string{"LABELGATE_MODE=agent", "LABELGATE_DOCKER_FILTER_LABEL=" + HostLabel + "=" + env.Run + "-nothing"}, env2...)})
		env.LogsOnFailure(name, id)
	}
	agent("tls-out", "LABELGATE_CONNECT_ENDPOINT=wss://tls:8081", "LABELGATE_CONNECT_TOKEN="+outToken,
		"LABELGATE_CONNECT_TLS_CA=/certs/ca.pem", "LABELGATE_CONNECT_TLS_CERT=/certs/out.pem", "LABELGATE_CONNECT_TLS_KEY=/certs/out-key.pem")
	agent("tls-in", "LABELGATE_CONNECT_MODE=inbound", "LABELGATE_CONNECT_TOKEN="+inToken,
		"LABELGATE_CONNECT_TLS_CERT=/certs/in.pem", "LABELGATE_CONNECT_TLS_KEY=/certs/in-key.pem")
	c := &Cluster{t: t, env: env, mainBase: base, http: &http.Client{Timeout: 5 * time.Second}}
	for _, name := range []string{"out", "in"} {
		Eventually(t, 45*time.Second, name+" connected with a verified certificate", func() bool {
			a := c.Agent(name)
			return a.Connected && a.TLSMode == "verified"
		})
	}
	t.Logf("outbound agent over mTLS (agent.tls.cert + client_ca, connect.tls.ca + cert) and inbound agent pinned with tls_ca: both tls_mode verified")
}

// TestInboundAgentWithConnectCA: connect.tls.ca verifies main's
// certificate, which only an outbound agent sees. An inbound agent given it
// anyway refuses to start with a message that names the variable and says
// where the setting belongs, instead of running in a way main cannot reach.
func TestInboundAgentWithConnectCA(t *testing.T) {
	env := Setup(t)
	t.Parallel()
	ca := newTestCA(t)
	dir := certDir(t, map[string][]byte{"ca.pem": ca.pem})
	id := env.Start(Container{Name: "ca-in", Image: env.Image(), Networks: []string{env.Network("cain")},
		Binds: []string{dir + ":/certs:ro"},
		Env: []string{"LABELGATE_MODE=agent", "LABELGATE_CONNECT_MODE=inbound", "LABELGATE_CONNECT_TOKEN=lge2e-tls-inbound-token-0123456789",
			"LABELGATE_CONNECT_TLS_CA=/certs/ca.pem"}})
	Eventually(t, 30*time.Second, "the misconfigured agent to exit", func() bool {
		res, err := env.Docker.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
		return err == nil && res.Container.State != nil && !res.Container.State.Running
	})
	logs := env.Logs(id)
	if !strings.Contains(logs, "LABELGATE_CONNECT_TLS_CA") || !strings.Contains(logs, "inbound") {
		t.Fatalf("the agent must refuse connect.tls.ca in inbound mode, naming the variable; its output:\n%s", logs)
	}
}
