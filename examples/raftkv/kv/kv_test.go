package kv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tickraft/raft/replica"
)

// kinds are the state machines every test runs on.
var kinds = []struct {
	name string
	open func(t *testing.T, dir string) StateMachine
}{
	{"memory", func(*testing.T, string) StateMachine { return NewMemory(0) }},
	{"pebble", func(t *testing.T, dir string) StateMachine {
		p, err := OpenPebble(dir, PebbleOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}},
}

func forEach(t *testing.T, f func(t *testing.T, sm StateMachine, h *harness)) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			dir := t.TempDir()
			sm := k.open(t, dir)
			t.Cleanup(func() { sm.Close() })
			f(t, sm, &harness{t: t, sm: sm})
		})
	}
}

// harness applies commands at increasing log indexes.
type harness struct {
	t     *testing.T
	sm    StateMachine
	index uint64
}

func (h *harness) apply(reqs ...Request) []Result {
	h.t.Helper()
	cmds := make([]replica.Command, len(reqs))
	for i, r := range reqs {
		h.index++
		cmds[i] = replica.Command{Index: h.index, Term: 1, Data: r.Encode(nil)}
	}
	results := make([]any, len(cmds))
	if err := h.sm.Apply(cmds, results); err != nil {
		h.t.Fatal(err)
	}
	out := make([]Result, len(results))
	for i, r := range results {
		out[i] = r.(Result)
	}
	return out
}

func (h *harness) one(r Request) Result { h.t.Helper(); return h.apply(r)[0] }

func (h *harness) get(key string) (string, uint64, bool) {
	h.t.Helper()
	kv, ok, err := h.sm.Get([]byte(key))
	if err != nil {
		h.t.Fatal(err)
	}
	return string(kv.Value), kv.Version, ok
}

func put(k, v string) Request { return Request{Op: OpPut, Key: []byte(k), Value: []byte(v)} }

func TestCommands(t *testing.T) {
	forEach(t, func(t *testing.T, sm StateMachine, h *harness) {
		if r := h.one(put("a", "1")); r != (Result{Version: 1}) {
			t.Fatalf("put: %+v", r)
		}
		if v, ver, ok := h.get("a"); v != "1" || ver != 1 || !ok {
			t.Fatalf("get a: %q %d %v", v, ver, ok)
		}
		h.one(put("a", "2"))
		if _, ver, _ := h.get("a"); ver != 2 {
			t.Fatalf("version after second put: %d", ver)
		}
		// CAS on a stale version fails and reports the current one.
		if r := h.one(Request{Op: OpCAS, Key: []byte("a"), Value: []byte("x"), Version: 1}); r != (Result{Code: VersionMismatch, Version: 2}) {
			t.Fatalf("stale cas: %+v", r)
		}
		if r := h.one(Request{Op: OpCAS, Key: []byte("a"), Value: []byte("3"), Version: 2}); r != (Result{Version: 4}) {
			t.Fatalf("cas: %+v", r)
		}
		// CAS on version 0 means absent.
		if r := h.one(Request{Op: OpCAS, Key: []byte("b"), Value: []byte("b0"), Version: 0}); r.Code != OK {
			t.Fatalf("cas absent: %+v", r)
		}
		if r := h.one(Request{Op: OpPutIfAbsent, Key: []byte("b"), Value: []byte("no")}); r != (Result{Code: Exists, Version: 5}) {
			t.Fatalf("put-if-absent on existing: %+v", r)
		}
		if r := h.one(Request{Op: OpPutIfAbsent, Key: []byte("c"), Value: []byte("c0")}); r != (Result{Version: 7}) {
			t.Fatalf("put-if-absent: %+v", r)
		}
		if r := h.one(Request{Op: OpDelete, Key: []byte("c")}); !r.Existed || r.Code != OK {
			t.Fatalf("delete: %+v", r)
		}
		if r := h.one(Request{Op: OpDelete, Key: []byte("c")}); r.Existed {
			t.Fatalf("delete of a missing key: %+v", r)
		}
		if _, _, ok := h.get("c"); ok {
			t.Fatal("deleted key still there")
		}
		if v, _, _ := h.get("a"); v != "3" {
			t.Fatalf("a = %q", v)
		}
		// A malformed command changes nothing.
		before := h.index
		cmds := []replica.Command{{Index: before + 1, Data: []byte{99, 1}}}
		res := make([]any, 1)
		if err := sm.Apply(cmds, res); err != nil || res[0].(Result).Code != BadCommand {
			t.Fatalf("bad command: %v %+v", err, res[0])
		}
	})
}

func TestScan(t *testing.T) {
	forEach(t, func(t *testing.T, sm StateMachine, h *harness) {
		for _, k := range []string{"user/3", "user/1", "admin", "user/2", "users", "v"} {
			h.one(put(k, "v-"+k))
		}
		keys := func(kvs []KV) (out []string) {
			for _, kv := range kvs {
				out = append(out, string(kv.Key))
			}
			return out
		}
		all, err := sm.Scan(nil, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := keys(all); !reflect.DeepEqual(got, []string{"admin", "user/1", "user/2", "user/3", "users", "v"}) {
			t.Fatalf("scan all: %v", got)
		}
		pre, _ := sm.Scan([]byte("user/"), PrefixEnd([]byte("user/")), 2)
		if got := keys(pre); !reflect.DeepEqual(got, []string{"user/1", "user/2"}) {
			t.Fatalf("prefix scan limit 2: %v", got)
		}
		if string(pre[0].Value) != "v-user/1" || pre[0].Version != 2 {
			t.Fatalf("scan value/version: %+v", pre[0])
		}
		rng, _ := sm.Scan([]byte("b"), []byte("user/3"), 0)
		if got := keys(rng); !reflect.DeepEqual(got, []string{"user/1", "user/2"}) {
			t.Fatalf("range scan: %v", got)
		}
	})
}

func TestPrefixEnd(t *testing.T) {
	for in, want := range map[string][]byte{"a": []byte("b"), "a\xff": []byte("b"), "\xff\xff": nil, "": nil} {
		if got := PrefixEnd([]byte(in)); !bytes.Equal(got, want) {
			t.Errorf("PrefixEnd(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSessionsDeduplicate(t *testing.T) {
	forEach(t, func(t *testing.T, sm StateMachine, h *harness) {
		id := h.one(Request{Op: OpRegister}).Version
		if id == 0 {
			t.Fatal("register returned no client ID")
		}
		w := Request{Op: OpPut, ClientID: id, Seq: 1, AckBelow: 1, Key: []byte("k"), Value: []byte("first")}
		r1 := h.one(w)
		// The same seq retried (a timeout, a leader change): the first
		// result, and the write is not applied again.
		w2 := w
		w2.Value = []byte("retry")
		if r := h.one(w2); r != r1 {
			t.Fatalf("retry got %+v, first got %+v", r, r1)
		}
		if v, ver, _ := h.get("k"); v != "first" || ver != r1.Version {
			t.Fatalf("k = %q@%d after the retry", v, ver)
		}
		// Retries inside one batch, and a CAS retried after its key moved
		// on: the result is still the first one.
		cas := Request{Op: OpCAS, ClientID: id, Seq: 2, AckBelow: 1, Key: []byte("k"), Value: []byte("cas"), Version: r1.Version}
		rs := h.apply(cas, cas)
		if rs[0].Code != OK || rs[1] != rs[0] {
			t.Fatalf("cas twice in a batch: %+v", rs)
		}
		h.one(put("k", "other"))
		if r := h.one(cas); r != rs[0] {
			t.Fatalf("late cas retry: %+v", r)
		}
		if v, _, _ := h.get("k"); v != "other" {
			t.Fatalf("late cas retry was applied again: k = %q", v)
		}
		// Acknowledged seqs are forgotten and never applied again.
		h.one(Request{Op: OpPut, ClientID: id, Seq: 3, AckBelow: 3, Key: []byte("x"), Value: []byte("3")})
		if r := h.one(w2); r.Code != SessionStale {
			t.Fatalf("acknowledged seq retried: %+v", r)
		}
		if r := h.one(Request{Op: OpPut, ClientID: 12345, Seq: 1, Key: []byte("k")}); r.Code != SessionExpired {
			t.Fatalf("unknown session: %+v", r)
		}
		if r := h.one(Request{Op: OpPut, ClientID: id, Seq: 0, Key: []byte("k")}); r.Code != BadCommand {
			t.Fatalf("seq 0 in a session: %+v", r)
		}
		if v, _, _ := h.get("k"); v != "other" {
			t.Fatalf("refused commands changed k to %q", v)
		}
	})
}

func TestSessionEviction(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			var sm StateMachine
			if k.name == "memory" {
				sm = NewMemory(10)
			} else {
				p, err := OpenPebble(t.TempDir(), PebbleOptions{MaxSessions: 10})
				if err != nil {
					t.Fatal(err)
				}
				sm = p
			}
			defer sm.Close()
			h := &harness{t: t, sm: sm}
			var ids []uint64
			for range 11 {
				ids = append(ids, h.one(Request{Op: OpRegister}).Version)
			}
			// Touch the first so the second and third are the oldest.
			h.one(Request{Op: OpPut, ClientID: ids[0], Seq: 1, Key: []byte("a")})
			if s := sm.Stats().Sessions; s != 11 {
				t.Fatalf("sessions before eviction: %d", s)
			}
			ids = append(ids, h.one(Request{Op: OpRegister}).Version) // 12 > 10+10%: evict to 10
			if s := sm.Stats().Sessions; s != 10 {
				t.Fatalf("sessions after eviction: %d", s)
			}
			for i, id := range ids {
				r := h.one(Request{Op: OpPut, ClientID: id, Seq: 5, Key: []byte("b")})
				expired := i == 1 || i == 2
				if (r.Code == SessionExpired) != expired {
					t.Errorf("session %d (registered %d-th): %v", id, i, r.Code)
				}
			}
		})
	}
}

// state is everything observable in a state machine, to compare them.
type state struct {
	KVs      []KV
	Nodes    map[uint64]string
	Sessions int
}

func observe(t *testing.T, sm StateMachine) state {
	t.Helper()
	kvs, err := sm.Scan(nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return state{KVs: kvs, Nodes: sm.Nodes(), Sessions: sm.Stats().Sessions}
}

// TestSnapshotRoundTrip restores every kind's snapshot into every kind and
// checks the state, the sessions' deduplication and the applied index.
func TestSnapshotRoundTrip(t *testing.T) {
	for _, from := range kinds {
		for _, to := range kinds {
			t.Run(from.name+"-to-"+to.name, func(t *testing.T) {
				src := from.open(t, t.TempDir())
				defer src.Close()
				h := &harness{t: t, sm: src}
				id := h.one(Request{Op: OpRegister}).Version
				for i := range 100 {
					h.one(put(fmt.Sprintf("k%03d", i), fmt.Sprint(i)))
				}
				h.one(Request{Op: OpSetNode, Version: 7, Value: []byte("127.0.0.1:7")})
				w := Request{Op: OpPut, ClientID: id, Seq: 1, Key: []byte("s"), Value: []byte("once")}
				first := h.one(w)
				want := observe(t, src)
				snap, err := src.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				// Applies after the snapshot was taken are not in it.
				h.one(put("after", "x"))
				var buf bytes.Buffer
				if _, err := snap.WriteTo(&buf); err != nil {
					t.Fatal(err)
				}
				snap.Release()

				dst := to.open(t, t.TempDir())
				defer dst.Close()
				hd := &harness{t: t, sm: dst}
				hd.one(put("stale", "gone after restore"))
				if err := dst.Restore(bytes.NewReader(buf.Bytes()), 500); err != nil {
					t.Fatal(err)
				}
				if got := observe(t, dst); !reflect.DeepEqual(got, want) {
					t.Fatalf("restored state differs:\n got %+v\nwant %+v", got, want)
				}
				if to.name == "pebble" && dst.AppliedIndex() != 500 {
					t.Fatalf("applied index after restore: %d", dst.AppliedIndex())
				}
				if dst.Stats().Applied != 500 {
					t.Fatalf("stats applied after restore: %d", dst.Stats().Applied)
				}
				hd.index = 500
				if r := hd.one(w); r != first {
					t.Fatalf("session lost in the snapshot: retry got %+v, want %+v", r, first)
				}
				if v, ver, _ := hd.get("s"); v != "once" || ver != first.Version {
					t.Fatalf("s = %q@%d", v, ver)
				}
			})
		}
	}
}

func TestRestoreRejectsDamagedSnapshot(t *testing.T) {
	src := NewMemory(0)
	h := &harness{t: t, sm: src}
	for i := range 10 {
		h.one(put(fmt.Sprint(i), "v"))
	}
	snap, _ := src.Snapshot()
	var buf bytes.Buffer
	snap.WriteTo(&buf)
	good := buf.Bytes()
	damaged := map[string][]byte{
		"truncated":  good[:len(good)-3],
		"bit flip":   flip(good, len(good)/2),
		"empty":      nil,
		"bad magic":  append([]byte("xxxxxxxx"), good[8:]...),
		"no end":     good[:len(good)-6],
		"extra tail": good[:30],
	}
	forEach(t, func(t *testing.T, sm StateMachine, hd *harness) {
		hd.one(put("keep", "me"))
		want := observe(t, sm)
		for name, b := range damaged {
			err := sm.Restore(bytes.NewReader(b), 99)
			if !errors.Is(err, ErrBadSnapshot) {
				t.Errorf("%s: Restore = %v, want ErrBadSnapshot", name, err)
			}
			if got := observe(t, sm); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: a failed restore changed the state: %+v", name, got)
			}
		}
	})
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x10
	return c
}

// TestPebbleRestart: the applied index is stored with the data, so a
// reopened state machine reports it and holds exactly what was applied,
// sessions included; after a restore the new directory is current.
func TestPebbleRestart(t *testing.T) {
	dir := t.TempDir()
	p, err := OpenPebble(dir, PebbleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, sm: p}
	id := h.one(Request{Op: OpRegister}).Version
	w := Request{Op: OpPut, ClientID: id, Seq: 1, Key: []byte("a"), Value: []byte("1")}
	first := h.one(w)
	h.one(Request{Op: OpSetNode, Version: 2, Value: []byte("api2")})
	want := observe(t, p)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p, err = OpenPebble(dir, PebbleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.AppliedIndex() != 3 {
		t.Fatalf("applied index after reopen: %d", p.AppliedIndex())
	}
	if got := observe(t, p); !reflect.DeepEqual(got, want) {
		t.Fatalf("reopened state %+v, want %+v", got, want)
	}
	h = &harness{t: t, sm: p, index: 3}
	if r := h.one(w); r != first {
		t.Fatalf("session not persisted: %+v", r)
	}

	// Restore swaps in a new directory; a reopen uses it.
	m := NewMemory(0)
	(&harness{t: t, sm: m}).one(put("only", "this"))
	snap, _ := m.Snapshot()
	var buf bytes.Buffer
	snap.WriteTo(&buf)
	if err := p.Restore(&buf, 100); err != nil {
		t.Fatal(err)
	}
	p.Close()
	ents, _ := os.ReadDir(dir)
	var dbs []string
	for _, e := range ents {
		if e.IsDir() {
			dbs = append(dbs, e.Name())
		}
	}
	if !reflect.DeepEqual(dbs, []string{"db-000002"}) {
		t.Fatalf("database directories after restore: %v", dbs)
	}
	cur, _ := os.ReadFile(filepath.Join(dir, "CURRENT"))
	if string(cur) != "db-000002\n" {
		t.Fatalf("CURRENT = %q", cur)
	}
	p, err = OpenPebble(dir, PebbleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.AppliedIndex() != 100 {
		t.Fatalf("applied after restore and reopen: %d", p.AppliedIndex())
	}
	if kvs, _ := p.Scan(nil, nil, 0); len(kvs) != 1 || string(kvs[0].Key) != "only" {
		t.Fatalf("data after restore and reopen: %+v", kvs)
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	good := (&Request{Op: OpPut, ClientID: 1, Seq: 2, Key: []byte("k"), Value: []byte("v")}).Encode(nil)
	if r, err := Decode(good); err != nil || string(r.Key) != "k" || string(r.Value) != "v" || r.Seq != 2 {
		t.Fatalf("round trip: %+v %v", r, err)
	}
	for i := range len(good) {
		if _, err := Decode(good[:i]); !errors.Is(err, ErrBadCommand) {
			t.Errorf("prefix of %d bytes decoded: %v", i, err)
		}
	}
	if _, err := Decode(append(good, 0)); !errors.Is(err, ErrBadCommand) {
		t.Error("trailing byte accepted")
	}
}
