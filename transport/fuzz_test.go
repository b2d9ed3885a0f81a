package transport

import (
	"bytes"
	"testing"

	"github.com/tickraft/raft/raftpb"
)

// FuzzFrameDecoder feeds arbitrary bytes to the frame reader and the message
// decoder, as a hostile peer would after a good handshake. Neither may panic,
// allocate beyond the frame limit, or accept a frame whose checksum does not
// match; every frame that does decode re-encodes to the same bytes.
func FuzzFrameDecoder(f *testing.F) {
	p, _ := appendMessage(nil, msg(1, 2, raftpb.MsgHeartbeat, 1))
	p, _ = appendMessage(p, appMsg(1, 2, 5, 10))
	f.Add(appendFrame(nil, frameMsgs, p))
	f.Add(appendFrame(nil, framePing, make([]byte, 8)))
	f.Add(appendFrame(appendFrame(nil, frameSnapChunk, []byte("data")), frameSnapEnd, []byte{1, 2, 3, 4}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 0})
	f.Add(hello{version: 1, kind: 1, cluster: 1, from: 1, to: 2}.marshal())
	f.Add(hello{version: 1, kind: 1, cluster: 1, from: 1, to: 2, addr: "127.0.0.1:7000"}.marshal())
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1 << 20
		fr := &frameReader{r: bytes.NewReader(data), max: limit, allowed: allow(frameMsgs, framePing, frameSnapChunk, frameSnapEnd)}
		for {
			typ, payload, err := fr.next()
			if err != nil {
				break
			}
			if cap(fr.buf) > limit {
				t.Fatalf("buffer of %d bytes beyond the %d limit", cap(fr.buf), limit)
			}
			if re := appendFrame(nil, typ, payload); !bytes.Contains(data, re) {
				t.Fatal("a decoded frame does not re-encode to its input")
			}
			if typ == frameMsgs {
				forEachMessage(payload, func(m *raftpb.Message) error {
					if m == nil {
						t.Fatal("nil message")
					}
					return nil
				})
			}
		}
		if h, err := readHello(bytes.NewReader(data)); err == nil {
			if re := h.marshal(); !bytes.Equal(re, data[:len(re)]) {
				t.Fatal("a decoded hello does not re-encode to its input")
			}
		}
		readReply(bytes.NewReader(data))
	})
}
