package transport

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/tickraft/raft/raftpb"
)

// testCA issues certificates for tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tickraft test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert, key, pool}
}

// issue returns a certificate for 127.0.0.1 named cn, good for both ends.
func (ca *testCA) issue(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	must(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// mtls is a mutual-TLS config: cert presented, peers verified against ca.
func mtls(ca *testCA, cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      ca.pool,
		ClientCAs:    ca.pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
}

// bindCN refuses a peer whose certificate is not named node-<id>.
func bindCN(id uint64, st *tls.ConnectionState) error {
	if st == nil || len(st.PeerCertificates) == 0 {
		return fmt.Errorf("no certificate")
	}
	if cn := st.PeerCertificates[0].Subject.CommonName; cn != fmt.Sprintf("node-%d", id) {
		return fmt.Errorf("certificate %q does not name node %d", cn, id)
	}
	return nil
}

func TestTCPMutualTLS(t *testing.T) {
	ca := newTestCA(t)
	certs := map[uint64]tls.Certificate{1: ca.issue(t, "node-1"), 2: ca.issue(t, "node-2")}
	a := newTCP(t, 1, func(c *TCPConfig) { c.TLS = mtls(ca, certs[1]); c.VerifyPeer = bindCN })
	b := newTCP(t, 2, func(c *TCPConfig) { c.TLS = mtls(ca, certs[2]); c.VerifyPeer = bindCN })
	ra, rb := newRecorder(), newRecorder()
	must(t, a.AddPeer(2, b.Addr().String()))
	must(t, b.AddPeer(1, a.Addr().String()))
	must(t, a.Start(ra))
	must(t, b.Start(rb))
	a.Send([]*raftpb.Message{appMsg(1, 2, 1, 100)})
	b.Send([]*raftpb.Message{msg(2, 1, raftpb.MsgAppResp, 1)})
	rb.waitFor(t, "message over TLS", func() bool { return len(rb.msgs) == 1 })
	ra.waitFor(t, "response over TLS", func() bool { return len(ra.msgs) == 1 })
	data := bytes.Repeat([]byte("tls"), 1<<20)
	a.SendSnapshot(snapMsg(1, 2), io.NopCloser(bytes.NewReader(data)), int64(len(data)))
	ra.waitFor(t, "snapshot over TLS", func() bool { return len(ra.snapReports) == 1 })
	if ra.snapReports[0].err != nil || !bytes.Equal(rb.snaps[0].data, data) {
		t.Fatalf("snapshot over TLS: %v", ra.snapReports[0].err)
	}
}

func TestTCPTLSRefusals(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	for _, tc := range []struct {
		name   string
		client *tls.Config
	}{
		{"certificate from another CA", mtls(other, other.issue(t, "node-1"))}, // also refuses the server's
		{"no client certificate", &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS13}},
		{"certificate naming another node", mtls(ca, ca.issue(t, "node-3"))},
		{"plain TCP to a TLS node", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newTCP(t, 2, func(c *TCPConfig) { c.TLS = mtls(ca, ca.issue(t, "node-2")); c.VerifyPeer = bindCN })
			a := newTCP(t, 1, func(c *TCPConfig) { c.TLS = tc.client })
			ra, rb := newRecorder(), newRecorder()
			must(t, a.AddPeer(2, b.Addr().String()))
			must(t, a.Start(ra))
			must(t, b.Start(rb))
			ra.waitFor(t, "refusal", func() bool {
				a.Send([]*raftpb.Message{msg(1, 2, raftpb.MsgHeartbeat, 1)})
				return b.Stats().HandshakeRejects > 0 && len(ra.unreachable) > 0
			})
			if rb.numMsgs() != 0 {
				t.Fatal("message delivered across a refused TLS handshake")
			}
		})
	}
}
