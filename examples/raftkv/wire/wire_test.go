package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"testing"
)

func readOne(t *testing.T, frame []byte, max int) []byte {
	t.Helper()
	body, err := ReadFrame(bufio.NewReader(bytes.NewReader(frame)), nil, max)
	if err != nil {
		t.Fatalf("ReadFrame: %v", err)
	}
	return body
}

func TestRequestRoundTrip(t *testing.T) {
	reqs := []Request{
		{ID: 1, Op: OpPut, TimeoutMS: 2000, ClientID: 7, Seq: 9, AckBelow: 3, Key: []byte("k"), Value: []byte("v")},
		{ID: 1 << 63, Op: OpCAS, Version: 0, Key: []byte("k"), Value: []byte{}},
		{ID: 2, Op: OpGet, Consistency: Stale, Key: []byte("a/b")},
		{ID: 3, Op: OpScan, Consistency: Lease, Prefix: true, Limit: 10000, Key: []byte("p")},
		{ID: 4, Op: OpScan, Key: []byte("a"), End: []byte("z")},
		{ID: 5, Op: OpCancel, Version: 4},
		{ID: 6, Op: OpRegister},
	}
	var stream []byte
	for i := range reqs {
		stream = AppendRequest(stream, &reqs[i])
	}
	r := bufio.NewReader(bytes.NewReader(stream))
	var buf []byte
	for i, want := range reqs {
		body, err := ReadFrame(r, buf, 1<<20)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		buf = body
		var got Request
		if err := DecodeRequest(body, &got); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		normalize(&got)
		normalize(&want)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("frame %d: got %+v, want %+v", i, got, want)
		}
	}
	if _, err := ReadFrame(r, buf, 1<<20); err != io.EOF {
		t.Fatalf("after the last frame: %v, want EOF", err)
	}
}

// normalize makes empty byte strings nil (the wire does not tell them
// apart).
func normalize(r *Request) {
	for _, p := range []*[]byte{&r.Key, &r.Value, &r.End} {
		if len(*p) == 0 {
			*p = nil
		}
	}
}

func TestResponseRoundTrip(t *testing.T) {
	resps := []Response{
		{ID: 1, Version: 42, Existed: true},
		{ID: 2, ReadIndex: 7, Consistency: Lease, More: true, KVs: []KV{{Key: []byte("a"), Value: []byte("1"), Version: 3}, {Key: []byte("b"), Value: []byte("22"), Version: 4}}},
		{ID: 3, Err: &Error{Status: 421, Code: "not_leader", Message: "node 1 is not the leader", LeaderID: 2, LeaderAPI: "127.0.0.1:1", LeaderClient: "127.0.0.1:2"}},
		{ID: 4, Err: &Error{Status: 409, Code: "version_mismatch", Version: 12}},
	}
	for _, want := range resps {
		body := readOne(t, AppendResponse(nil, &want), 1<<20)
		var got Response
		if err := DecodeResponse(body, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
}

func TestFrameLimit(t *testing.T) {
	frame := AppendRequest(nil, &Request{ID: 1, Op: OpPut, Key: []byte("k"), Value: make([]byte, 100)})
	_, err := ReadFrame(bufio.NewReader(bytes.NewReader(frame)), nil, 50)
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v, want ErrFrameTooLarge", err)
	}
	// A huge announced length is refused before anything is allocated.
	huge := binary.BigEndian.AppendUint32(nil, 0xffffffff)
	if _, err := ReadFrame(bufio.NewReader(bytes.NewReader(huge)), nil, 1<<20); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v, want ErrFrameTooLarge", err)
	}
	// A cut frame is an unexpected EOF, not a clean end.
	if _, err := ReadFrame(bufio.NewReader(bytes.NewReader(frame[:10])), nil, 1<<20); err != io.ErrUnexpectedEOF {
		t.Fatalf("got %v, want ErrUnexpectedEOF", err)
	}
	if _, err := ReadFrame(bufio.NewReader(bytes.NewReader(frame[:2])), nil, 1<<20); err != io.ErrUnexpectedEOF {
		t.Fatalf("got %v, want ErrUnexpectedEOF", err)
	}
}

func TestMalformed(t *testing.T) {
	good := readOne(t, AppendRequest(nil, &Request{ID: 1, Op: OpPut, Key: []byte("k"), Value: []byte("v")}), 1<<20)
	cases := map[string][]byte{
		"empty":          {},
		"truncated":      good[:len(good)-1],
		"trailing":       append(append([]byte{}, good...), 0),
		"unknown op":     append(append(binary.BigEndian.AppendUint64(nil, 1), 99, 0), good[10:]...),
		"zero op":        append(append(binary.BigEndian.AppendUint64(nil, 1), 0, 0), good[10:]...),
		"unknown flags":  append(append(binary.BigEndian.AppendUint64(nil, 1), 1, 0x80), good[10:]...),
		"consistency 3":  append(append(binary.BigEndian.AppendUint64(nil, 1), 1, 3), good[10:]...),
		"string too big": append(binary.BigEndian.AppendUint64(nil, 1), 1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0x03, 'k'),
		"bad varint":     append(binary.BigEndian.AppendUint64(nil, 1), 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
	}
	for name, b := range cases {
		var req Request
		if err := DecodeRequest(b, &req); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
	// A response claiming a billion entries in a few bytes.
	resp := append(binary.BigEndian.AppendUint64(nil, 1), 0, 0, 0, 0, 0)
	resp = binary.AppendUvarint(resp, 1e9)
	var r Response
	if err := DecodeResponse(resp, &r); !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v, want ErrMalformed", err)
	}
}

func TestHello(t *testing.T) {
	if err := CheckHello(Hello()); err != nil {
		t.Fatal(err)
	}
	bad := Hello()
	bad[len(bad)-1]++
	if err := CheckHello(bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("other version: %v", err)
	}
	if err := CheckHello([]byte("GET / HT")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("HTTP: %v", err)
	}
}

// FuzzDecode feeds arbitrary streams to the frame reader and both
// decoders: they must return errors, not panic or allocate beyond the
// frame limit, and whatever decodes must re-encode to an equal value.
func FuzzDecode(f *testing.F) {
	f.Add(AppendRequest(nil, &Request{ID: 1, Op: OpPut, Key: []byte("k"), Value: []byte("v")}))
	f.Add(AppendRequest(nil, &Request{ID: 2, Op: OpScan, Prefix: true, Limit: 5, Key: []byte("p")}))
	f.Add(AppendResponse(nil, &Response{ID: 3, KVs: []KV{{Key: []byte("a"), Value: []byte("b"), Version: 1}}}))
	f.Add(AppendResponse(nil, &Response{ID: 4, Err: &Error{Status: 421, Code: "not_leader", LeaderClient: "x"}}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(checkStream)
}

// checkStream decodes every frame of stream with both decoders.
func checkStream(t *testing.T, stream []byte) {
	const max = 4096
	r := bufio.NewReader(bytes.NewReader(stream))
	var buf []byte
	for {
		body, err := ReadFrame(r, buf, max)
		if err != nil {
			return
		}
		if cap(body) > max && cap(body) > cap(buf) {
			t.Fatalf("a %d-byte buffer for a limit of %d", cap(body), max)
		}
		buf = body
		var req Request
		if DecodeRequest(body, &req) == nil {
			var again Request
			if err := DecodeRequest(AppendRequest(nil, &req)[4:], &again); err != nil {
				t.Fatalf("re-encoded request does not decode: %v", err)
			}
			normalize(&req)
			normalize(&again)
			if !reflect.DeepEqual(req, again) {
				t.Fatalf("request round trip: %+v != %+v", req, again)
			}
		}
		var resp Response
		if DecodeResponse(body, &resp) == nil {
			var again Response
			if err := DecodeResponse(AppendResponse(nil, &resp)[4:], &again); err != nil {
				t.Fatalf("re-encoded response does not decode: %v", err)
			}
			if !reflect.DeepEqual(normResp(resp), normResp(again)) {
				t.Fatalf("response round trip: %+v != %+v", resp, again)
			}
		}
	}
}

func normResp(r Response) Response {
	kvs := make([]KV, len(r.KVs))
	for i, kv := range r.KVs {
		kvs[i] = KV{Key: append([]byte{}, kv.Key...), Value: append([]byte{}, kv.Value...), Version: kv.Version}
	}
	r.KVs = kvs
	return r
}

// TestFuzzShort runs the fuzz target's checks on random mutations of valid
// frames for a moment (go test runs only the seeds otherwise).
func TestFuzzShort(t *testing.T) {
	seeds := [][]byte{
		AppendRequest(nil, &Request{ID: 1, Op: OpCAS, Version: 3, Key: []byte("k"), Value: []byte("v")}),
		AppendResponse(nil, &Response{ID: 3, More: true, KVs: []KV{{Key: []byte("a"), Value: []byte("b"), Version: 1}}}),
	}
	x := uint64(0x9e3779b97f4a7c15)
	next := func() uint64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x }
	for i := 0; i < 20000; i++ {
		b := append([]byte{}, seeds[i%len(seeds)]...)
		for m := 0; m <= int(next()%4); m++ {
			switch next() % 3 {
			case 0:
				b[next()%uint64(len(b))] = byte(next())
			case 1:
				b = b[:next()%uint64(len(b)+1)]
			case 2:
				b = append(b, byte(next()))
			}
			if len(b) == 0 {
				break
			}
		}
		checkStream(t, b)
	}
}
