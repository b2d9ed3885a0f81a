package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tickraft/raft/examples/raftkv/client"
	"github.com/tickraft/raft/examples/raftkv/internal/cluster"
)

// TestTLS: nodes started with -tls-cert/-tls-key/-tls-ca talk mutual TLS
// on the transport and HTTPS on the API (forwarding and joining included);
// a client without the CA's trust is refused. The binary client protocol
// is served over TLS too, and a follower forwards its writes.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	clientTLS := writeCerts(t, dir)
	c := newCluster(t, "memory", 3, "-tls-cert", filepath.Join(dir, "node.pem"), "-tls-key", filepath.Join(dir, "node-key.pem"),
		"-tls-ca", filepath.Join(dir, "ca.pem"), "-forward")
	c.TLS = clientTLS
	clientAddrs := map[uint64]string{}
	for _, n := range c.Nodes() {
		a, err := cluster.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		n.Args, clientAddrs[n.ID] = append(n.Args, "-client-addr", a), a
	}
	x := ctx(t)
	if err := c.Bootstrap(x); err != nil {
		t.Fatal(err)
	}
	cl := c.Client()
	defer cl.Close()
	if _, err := cl.Put(x, "k0", "v0"); err != nil {
		t.Fatal(err)
	}
	readAll(t, c, 1, "linearizable")
	// Plain HTTP, and HTTPS without a client certificate, are refused.
	if resp, err := http.Get("http://" + c.Node(1).APIAddr + "/v1/admin/status"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP served by a TLS node")
		}
	}
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: clientTLS.RootCAs}}}
	if resp, err := anon.Get("https://" + c.Node(1).APIAddr + "/v1/admin/status"); err == nil {
		resp.Body.Close()
		t.Fatal("HTTPS without a client certificate was served")
	}

	// The binary protocol, through node 2 only (a follower: it forwards).
	bin := client.New(c.Endpoints(), client.Options{TLS: clientTLS, ClientAddrs: []string{clientAddrs[2]}})
	defer bin.Close()
	v, err := bin.Put(x, "k1", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if g, err := bin.Get(x, "k1", "linearizable"); err != nil || g.Value != "v1" || g.Version != v {
		t.Fatalf("get over TLS: %+v, %v", g, err)
	}
	plain := client.New(c.Endpoints(), client.Options{ClientAddrs: []string{clientAddrs[2]}, AttemptTimeout: time.Second})
	defer plain.Close()
	pctx, cancel := context.WithTimeout(x, 3*time.Second)
	defer cancel()
	if _, err := plain.Get(pctx, "k1", "stale"); err == nil {
		t.Fatal("the binary protocol served a client without TLS")
	}
}

// writeCerts writes a CA and one node certificate for 127.0.0.1 (server
// and client use) and returns a client config trusting the CA.
func writeCerts(t *testing.T, dir string) *tls.Config {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "raftkv test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "raftkv node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	for name, blk := range map[string]*pem.Block{
		"ca.pem": {Type: "CERTIFICATE", Bytes: caDER}, "node.pem": {Type: "CERTIFICATE", Bytes: der},
		"node-key.pem": {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(blk), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	pair, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}
}
