package transport

import (
	"bytes"
	"errors"
	"net"
	"testing"

	"github.com/tickraft/raft/raftpb"
)

// A hello round-trips with and without an address, and an address-less
// hello is byte for byte the original 36-byte format.
func TestHelloAddressRoundTrip(t *testing.T) {
	for _, addr := range []string{"", "127.0.0.1:7000", "[::1]:1", string(bytes.Repeat([]byte("h"), 250)) + ":9999"} {
		h := hello{version: ProtocolVersion, kind: kindMessages, cluster: 3, from: 1, to: 2, addr: addr}
		b := h.marshal()
		if len(b) != helloSize+len(addr) {
			t.Fatalf("addr %q: %d bytes, want %d", addr, len(b), helloSize+len(addr))
		}
		got, err := readHello(bytes.NewReader(b))
		if err != nil || got != h {
			t.Fatalf("addr %q: read %+v, %v; want %+v", addr, got, err, h)
		}
	}
	if b := (hello{version: 1, kind: 1, cluster: 1, from: 1, to: 2}).marshal(); b[7] != 0 {
		t.Fatalf("an address-less hello sets byte 7 to %d, want the old reserved zero", b[7])
	}
}

// A torn or corrupted address is an error, not a short read taken as good.
func TestHelloAddressDamage(t *testing.T) {
	b := hello{version: 1, kind: 1, cluster: 1, from: 1, to: 2, addr: "10.0.0.1:7000"}.marshal()
	if _, err := readHello(bytes.NewReader(b[:len(b)-1])); err == nil {
		t.Fatal("a truncated hello was accepted")
	}
	bad := bytes.Clone(b)
	bad[helloFixed+1] ^= 1
	if _, err := readHello(bytes.NewReader(bad)); !errors.Is(err, errBadChecksum) {
		t.Fatalf("a flipped address byte: %v, want a checksum error", err)
	}
}

// The acceptor refuses a hello whose address is not host:port.
func TestTCPHandshakeRejectsBadAddress(t *testing.T) {
	b := newTCP(t, 2, nil)
	must(t, b.Start(newRecorder()))
	for _, addr := range []string{"nohostport", "host:", ":80", "h:0"} {
		_, r := rawDial(t, b, hello{version: ProtocolVersion, kind: kindMessages, cluster: 0xc1, from: 1, to: 2, addr: addr})
		if r.status != statusBadHello {
			t.Fatalf("address %q: status %d, want %d (malformed hello)", addr, r.status, statusBadHello)
		}
	}
	if _, ok := b.Stats().Peers[1]; ok && b.Stats().Peers[1].Addr != "" {
		t.Fatalf("a refused hello taught node 2 an address: %+v", b.Stats().Peers[1])
	}
}

// A node that does not know a peer answers it anyway once the peer has
// dialed it: the peer's hello says where it listens. This is a lagging
// member hearing from a leader that joined after the member's last applied
// entry; without it the member's answers (votes, append rejections) are
// dropped and the leader never catches it up.
func TestTCPAnswersAPeerLearnedFromItsHello(t *testing.T) {
	a, b := newTCP(t, 1, nil), newTCP(t, 2, nil)
	ra, rb := newRecorder(), newRecorder()
	must(t, a.AddPeer(2, b.Addr().String())) // b has never heard of a
	must(t, a.Start(ra))
	must(t, b.Start(rb))
	a.Send([]*raftpb.Message{msg(1, 2, raftpb.MsgHeartbeat, 1)})
	rb.waitFor(t, "b hears a", func() bool { return len(rb.msgs) >= 1 })
	if got := b.Stats().Peers[1].Addr; got != a.Addr().String() {
		t.Fatalf("b knows a at %q, want %q", got, a.Addr().String())
	}
	b.Send([]*raftpb.Message{msg(2, 1, raftpb.MsgHeartbeatResp, 1)})
	ra.waitFor(t, "a hears b's answer", func() bool { return len(ra.msgs) >= 1 })

	// The membership's address wins over a learned one.
	must(t, b.AddPeer(1, "127.0.0.1:1"))
	a.Send([]*raftpb.Message{msg(1, 2, raftpb.MsgHeartbeat, 2)})
	rb.waitFor(t, "b hears a again", func() bool { return len(rb.msgs) >= 2 })
	if got := b.Stats().Peers[1].Addr; got != "127.0.0.1:1" {
		t.Fatalf("a hello overrode the configured address: b knows a at %q", got)
	}
}

// A wildcard listener advertises nothing (peers could not dial 0.0.0.0);
// an explicit AdvertiseAddr is checked.
func TestTCPAdvertiseAddrDefaults(t *testing.T) {
	w := newTCP(t, 1, func(c *TCPConfig) { c.ListenAddr = "0.0.0.0:0" })
	if w.cfg.AdvertiseAddr != "" {
		t.Fatalf("a wildcard listener advertises %q", w.cfg.AdvertiseAddr)
	}
	l := newTCP(t, 1, nil)
	if l.cfg.AdvertiseAddr != l.Addr().String() {
		t.Fatalf("advertises %q, want the listener's %q", l.cfg.AdvertiseAddr, l.Addr())
	}
	_, err := NewTCP(TCPConfig{ID: 1, ListenAddr: "127.0.0.1:0", AdvertiseAddr: "no-port"})
	if err == nil {
		t.Fatal("a bad AdvertiseAddr was accepted")
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	x := newTCP(t, 1, func(c *TCPConfig) { c.Listener = ln; c.AdvertiseAddr = "node1.example:7000" })
	if x.cfg.AdvertiseAddr != "node1.example:7000" {
		t.Fatalf("advertises %q, want the configured address", x.cfg.AdvertiseAddr)
	}
}
