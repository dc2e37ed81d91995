package bridge

import (
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
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ClientTLS is a dialer's TLS settings for wss:// URLs. With none of them
// set, the dialer verifies the listener against the system roots and, when
// the certificate's authority is unknown (the listener's generated
// self-signed certificate), falls back to ModeTokenBound.
type ClientTLS struct {
	// CAFile is a PEM bundle: the listener must present a certificate it
	// signed (ModeVerified, fail closed). A listener's persisted self-signed
	// certificate can serve as its own CA.
	CAFile string
	// CertFile and KeyFile are a client certificate to present (mTLS).
	CertFile string
	KeyFile  string
	// Insecure skips certificate verification entirely (ModeInsecure). The
	// token proof still authenticates the listener when it is bound to the
	// TLS session; callers should log a warning at every connect.
	Insecure bool
}

func (t ClientTLS) isZero() bool { return t == ClientTLS{} }

// clientVerifier builds a dialer's tls.Config and remembers which mode the
// verification ended in. One per dial.
type clientVerifier struct {
	mu   sync.Mutex
	mode TLSMode
}

func (v *clientVerifier) set(m TLSMode) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.mode = m
}

func (v *clientVerifier) get() TLSMode {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.mode
}

func (t ClientTLS) config(host string) (*tls.Config, *clientVerifier, error) {
	if t.CAFile != "" && t.Insecure {
		return nil, nil, errors.New("tls: a CA file and insecure mode exclude each other")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CertFile != "" || t.KeyFile != "" {
		if t.CertFile == "" || t.KeyFile == "" {
			return nil, nil, errors.New("tls: a client certificate needs both a certificate and a key file")
		}
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("loading client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	v := &clientVerifier{}
	switch {
	case t.CAFile != "":
		pool, err := loadPool(t.CAFile)
		if err != nil {
			return nil, nil, err
		}
		pinned, err := loadCerts(t.CAFile)
		if err != nil {
			return nil, nil, err
		}
		// Verified here rather than by crypto/tls, so that a pinned
		// certificate (the CA file holds the listener's own, e.g. its saved
		// self-signed one, which names no host) matches exactly, whatever
		// host it is reached by. Anything else must chain to the CA file and
		// name the host. Fail closed either way.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if err := verifyPinnedOrCA(cs.PeerCertificates, pinned, pool, host); err != nil {
				return err
			}
			v.set(ModeVerified)
			return nil
		}
	case t.Insecure:
		cfg.InsecureSkipVerify = true
		v.set(ModeInsecure)
	default:
		// Go's own verification cannot fall back, so it is switched off and
		// done here, with the same system roots and host name.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			mode, err := verifySystem(cs.PeerCertificates, host)
			if err != nil {
				return err
			}
			v.set(mode)
			return nil
		}
	}
	return cfg, v, nil
}

// verifySystem verifies a listener's chain against the system roots. A chain
// that leads to no known authority (a self-signed certificate) is not an
// error but ModeTokenBound: the EKM-bound proof authenticates the listener
// then, and its name and validity dates are irrelevant. A chain that does
// lead to a system root but is wrong otherwise (name, expiry) fails closed.
func verifySystem(certs []*x509.Certificate, host string) (TLSMode, error) {
	if len(certs) == 0 {
		return "", errors.New("tls: the listener sent no certificate")
	}
	leaf := certs[0]
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Intermediates: inter})
	if err == nil {
		return ModeVerified, nil
	}
	// Verify checks dates and name before the chain; ask about the chain
	// alone, at a time the leaf is valid.
	mid := leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) / 2)
	_, chainErr := leaf.Verify(x509.VerifyOptions{Intermediates: inter, CurrentTime: mid})
	var (
		unknown x509.UnknownAuthorityError
		noRoots x509.SystemRootsError
	)
	if errors.As(chainErr, &unknown) || errors.As(chainErr, &noRoots) {
		return ModeTokenBound, nil
	}
	return "", fmt.Errorf("verifying the listener's certificate: %w", err)
}

// verifyPinnedOrCA accepts a listener whose leaf certificate is one of the
// pinned certificates byte for byte, or whose chain leads to pool and names
// host.
func verifyPinnedOrCA(certs []*x509.Certificate, pinned []*x509.Certificate, pool *x509.CertPool, host string) error {
	if len(certs) == 0 {
		return errors.New("tls: the listener sent no certificate")
	}
	leaf := certs[0]
	for _, p := range pinned {
		if leaf.Equal(p) {
			now := time.Now()
			if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
				return fmt.Errorf("verifying the listener's pinned certificate: valid from %s to %s", leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339))
			}
			return nil
		}
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: host, Intermediates: inter}); err != nil {
		return fmt.Errorf("verifying the listener's certificate against the CA file: %w", err)
	}
	return nil
}

// loadCerts reads every certificate of a PEM file.
func loadCerts(file string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading CA file: %w", err)
	}
	var out []*x509.Certificate
	for len(data) > 0 {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("reading CA file %s: %w", file, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func loadPool(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("reading CA file %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// ServerTLS is a listener's TLS settings.
type ServerTLS struct {
	// CertFile and KeyFile are the configured certificate. Empty: a
	// self-signed ECDSA P-256 certificate is generated instead, and dialers
	// without a CA file authenticate this listener in ModeTokenBound.
	CertFile string
	KeyFile  string
	// SelfSignedFile, used only without CertFile, persists the generated
	// certificate and key (one PEM file, mode 0600) and reuses them at the
	// next start while they are valid, so operators can pin the certificate
	// as a dialer's CAFile. Empty keeps it in memory only.
	SelfSignedFile string
	// Hosts are the DNS names and IP addresses the generated certificate
	// names. They matter only when a dialer pins it as a CA.
	Hosts []string
	// ClientCAFile, if set, requires every dialer to present a client
	// certificate signed by one of these CAs (mTLS); such peers are
	// ModeVerified.
	ClientCAFile string
}

// selfSignedLifetime is the validity of a generated certificate. A dialer in
// token-bound mode ignores it; a dialer that pinned the certificate does not.
const selfSignedLifetime = 10 * 365 * 24 * time.Hour

// ServerTLSConfig builds a listener's tls.Config from s. It reports whether
// the certificate was generated (self-signed) so the caller can log it.
func ServerTLSConfig(s ServerTLS) (cfg *tls.Config, selfSigned bool, err error) {
	cfg = &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"}, // WebSocket upgrades need HTTP/1.1
	}
	switch {
	case s.CertFile != "" || s.KeyFile != "":
		if s.CertFile == "" || s.KeyFile == "" {
			return nil, false, errors.New("tls: a certificate needs both a certificate and a key file")
		}
		cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, false, fmt.Errorf("loading certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	default:
		cert, err := loadOrGenerate(s.SelfSignedFile, s.Hosts, time.Now())
		if err != nil {
			return nil, false, err
		}
		cfg.Certificates = []tls.Certificate{cert}
		selfSigned = true
	}
	if s.ClientCAFile != "" {
		pool, err := loadPool(s.ClientCAFile)
		if err != nil {
			return nil, false, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, selfSigned, nil
}

// loadOrGenerate loads the persisted certificate at file when it is still valid,
// else generates one (and persists it when file is set).
func loadOrGenerate(file string, hosts []string, now time.Time) (tls.Certificate, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		switch {
		case err == nil:
			cert, err := tls.X509KeyPair(data, data)
			if err == nil && cert.Leaf != nil && now.Before(cert.Leaf.NotAfter.Add(-24*time.Hour)) {
				if err := writePublicCert(file, cert.Certificate[0]); err != nil {
					return tls.Certificate{}, err
				}
				return cert, nil
			}
			// Unreadable or about to expire: replace it.
		case !errors.Is(err, os.ErrNotExist):
			return tls.Certificate{}, fmt.Errorf("reading self-signed certificate: %w", err)
		}
	}
	certPEM, keyPEM, err := generateSelfSigned(hosts, now)
	if err != nil {
		return tls.Certificate{}, err
	}
	if file != "" {
		if err := writeFileAtomic(file, append(certPEM, keyPEM...)); err != nil {
			return tls.Certificate{}, fmt.Errorf("saving self-signed certificate: %w", err)
		}
		block, _ := pem.Decode(certPEM)
		if err := writePublicCert(file, block.Bytes); err != nil {
			return tls.Certificate{}, err
		}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("loading generated certificate: %w", err)
	}
	return cert, nil
}

// generateSelfSigned returns PEM blocks of a new self-signed ECDSA P-256
// certificate that is its own CA, so it can be pinned as a CA file.
func generateSelfSigned(hosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("generating serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "labelgate bridge (self-signed)"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

// PublicCertFile is where the certificate alone (no key) of a persisted
// self-signed certificate is written: file with its extension replaced by
// ".crt". Dialers pin it as their CA file; the key never has to leave the
// listener's host.
func PublicCertFile(file string) string {
	return strings.TrimSuffix(file, filepath.Ext(file)) + ".crt"
}

func writePublicCert(file string, der []byte) error {
	pub := PublicCertFile(file)
	want := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if cur, err := os.ReadFile(pub); err == nil && string(cur) == string(want) {
		return nil
	}
	if err := writeFileAtomic(pub, want); err != nil {
		return fmt.Errorf("saving the public certificate: %w", err)
	}
	if err := os.Chmod(pub, 0o644); err != nil {
		return fmt.Errorf("saving the public certificate: %w", err)
	}
	return nil
}

func writeFileAtomic(file string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), ".bridge-cert-*")
	if err != nil {
		return err
	}
	// Gone after the rename; otherwise a leftover temporary file is all a
	// failed removal leaves.
	defer func() { _ = os.Remove(tmp.Name()) }()
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close() // the Chmod error is the one to report
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close() // the Write error is the one to report
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}

// serverMode is how a listener authenticated the dialer at the TLS layer.
func serverMode(cs *tls.ConnectionState) TLSMode {
	switch {
	case cs == nil:
		return ModePlaintext
	case len(cs.VerifiedChains) > 0:
		return ModeVerified
	default:
		return ModeTokenBound
	}
}
