package chaos

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

func put(c int, k, v string, call, ret int64, version uint64) Op {
	return Op{Client: c, In: Input{Op: OpPut, Key: k, Value: v}, Out: Output{Version: version}, Call: call, Return: ret}
}

func maybePut(c int, k, v string, call int64) Op {
	return Op{Client: c, In: Input{Op: OpPut, Key: k, Value: v}, Out: Output{Unknown: true}, Call: call, Return: Infinity}
}

func get(c int, k, v string, call, ret int64, version uint64) Op {
	return Op{Client: c, In: Input{Op: OpGet, Key: k}, Out: Output{OK: v != "", Value: v, Version: version}, Call: call, Return: ret}
}

func cas(c int, k, v string, expect uint64, call, ret int64, ok bool, version uint64) Op {
	return Op{Client: c, In: Input{Op: OpCAS, Key: k, Value: v, Expect: expect}, Out: Output{OK: ok, Version: version}, Call: call, Return: ret}
}

func maybeCAS(c int, k, v string, expect uint64, call int64) Op {
	return Op{Client: c, In: Input{Op: OpCAS, Key: k, Value: v, Expect: expect}, Out: Output{Unknown: true}, Call: call, Return: Infinity}
}

func del(c int, k string, call, ret int64, existed bool) Op {
	return Op{Client: c, In: Input{Op: OpDelete, Key: k}, Out: Output{OK: existed}, Call: call, Return: ret}
}

func TestLinearizability(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []Op
		ok   bool
	}{
		{"sequential put get", []Op{put(0, "a", "1", 0, 10, 5), get(1, "a", "1", 20, 30, 5)}, true},
		{"stale read after acknowledged put", []Op{put(0, "a", "1", 0, 10, 5), put(0, "a", "2", 20, 30, 6), get(1, "a", "1", 40, 50, 5)}, false},
		{"concurrent read may see old or new", []Op{put(0, "a", "1", 0, 10, 5), put(0, "a", "2", 20, 30, 6), get(1, "a", "1", 25, 50, 5)}, true},
		{"read of absent key after put", []Op{put(0, "a", "1", 0, 10, 5), get(1, "a", "", 20, 30, 0)}, false},
		{"read sees wrong version", []Op{put(0, "a", "1", 0, 10, 5), get(1, "a", "1", 20, 30, 7)}, false},
		{"versions must grow", []Op{put(0, "a", "1", 0, 10, 5), put(0, "a", "2", 20, 30, 4)}, false},
		{"lost write may appear later", []Op{maybePut(0, "a", "1", 0), get(1, "a", "", 10, 20, 0), get(1, "a", "1", 30, 40, 9)}, true},
		{"lost write may never appear", []Op{maybePut(0, "a", "1", 0), get(1, "a", "", 100, 120, 0)}, true},
		{"lost write cannot appear then vanish", []Op{maybePut(0, "a", "1", 0), get(1, "a", "1", 10, 20, 9), get(1, "a", "", 30, 40, 0)}, false},
		{"cas on read version", []Op{put(0, "a", "1", 0, 10, 5), cas(0, "a", "2", 5, 20, 30, true, 8), get(1, "a", "2", 40, 50, 8)}, true},
		{"cas on stale version succeeded", []Op{put(0, "a", "1", 0, 10, 5), put(0, "a", "2", 20, 30, 6), cas(1, "a", "3", 5, 40, 50, true, 9)}, false},
		{"cas mismatch reports current version", []Op{put(0, "a", "1", 0, 10, 5), cas(1, "a", "3", 4, 40, 50, false, 5)}, true},
		{"cas mismatch with matching version", []Op{put(0, "a", "1", 0, 10, 5), cas(1, "a", "3", 5, 40, 50, false, 5)}, false},
		{"cas create on absent", []Op{cas(0, "a", "1", 0, 0, 10, true, 3), get(1, "a", "1", 20, 30, 3)}, true},
		{"cas mismatch on absent says absent", []Op{cas(0, "a", "1", 4, 0, 10, false, 0)}, true},
		{"maybe cas: either outcome", []Op{put(0, "a", "1", 0, 10, 5), maybeCAS(1, "a", "2", 5, 20), get(2, "a", "1", 30, 40, 5), get(2, "a", "2", 50, 60, 7)}, true},
		{"maybe cas on wrong version cannot apply", []Op{put(0, "a", "1", 0, 10, 5), maybeCAS(1, "a", "2", 4, 20), get(2, "a", "2", 50, 60, 7)}, false},
		{"delete then absent", []Op{put(0, "a", "1", 0, 10, 5), del(0, "a", 20, 30, true), get(1, "a", "", 40, 50, 0)}, true},
		{"delete of absent says existed", []Op{del(0, "a", 20, 30, true)}, false},
		{"keys are independent", []Op{put(0, "a", "1", 0, 10, 5), put(1, "b", "2", 0, 10, 6), get(2, "b", "2", 20, 30, 6), get(2, "a", "1", 40, 50, 5)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := porcupine.CheckOperations(Model, Porcupine(tc.ops))
			if res != tc.ok {
				t.Fatalf("linearizable = %v, want %v", res, tc.ok)
			}
		})
	}
}

func TestFinalStateJoinsTheHistory(t *testing.T) {
	ops := []Op{put(0, "a", "1", 0, 10, 5), put(0, "a", "2", 20, 30, 6)}
	good := []NodeState{{ID: 1, Applied: 6, KVs: map[string]KV{"a": {"2", 6}}}}
	if r := CheckLinearizable(ops, good, []string{"a"}, time.Minute, false); r.Result != porcupine.Ok {
		t.Fatalf("good final state: %v", r.Result)
	}
	lost := []NodeState{{ID: 1, Applied: 6, KVs: map[string]KV{"a": {"1", 5}}}}
	r := CheckLinearizable(ops, lost, []string{"a"}, time.Minute, false)
	if r.Result != porcupine.Illegal {
		t.Fatalf("final state that lost an acknowledged write: %v", r.Result)
	}
	// An illegal history comes with what the visualization needs, without
	// asking; a legal one only when asked.
	var html bytes.Buffer
	if err := porcupine.Visualize(Model, r.Info, &html); err != nil || !strings.Contains(html.String(), "@5") {
		t.Fatalf("visualizing the illegal history: %v (%d bytes)", err, html.Len())
	}
	html.Reset()
	ok := CheckLinearizable(ops, good, []string{"a"}, time.Minute, true)
	if err := porcupine.Visualize(Model, ok.Info, &html); err != nil || !strings.Contains(html.String(), "@6") {
		t.Fatalf("visualizing a legal history on request: %v (%d bytes)", err, html.Len())
	}
}

func TestAcknowledged(t *testing.T) {
	ops := []Op{put(0, "a", "1", 0, 10, 5), put(0, "b", "2", 20, 30, 6), maybePut(1, "c", "3", 40)}
	ok := []NodeState{{ID: 1, Applied: 7, KVs: map[string]KV{"a": {"1", 5}, "b": {"2", 6}}}}
	if n, errs := CheckAcknowledged(ops, ok); n != 2 || len(errs) != 0 {
		t.Fatalf("verified %d errs %v", n, errs)
	}
	for name, bad := range map[string]NodeState{
		"behind":      {ID: 2, Applied: 5, KVs: map[string]KV{"a": {"1", 5}, "b": {"2", 6}}},
		"older":       {ID: 2, Applied: 7, KVs: map[string]KV{"a": {"1", 5}, "b": {"x", 4}}},
		"lost key":    {ID: 2, Applied: 7, KVs: map[string]KV{"a": {"1", 5}}},
		"other value": {ID: 2, Applied: 7, KVs: map[string]KV{"a": {"1", 5}, "b": {"x", 6}}},
	} {
		if _, errs := CheckAcknowledged(ops, []NodeState{bad}); len(errs) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
	withDelete := append(ops, del(2, "b", 25, 35, true))
	if _, errs := CheckAcknowledged(withDelete, []NodeState{{ID: 1, Applied: 7, KVs: map[string]KV{"a": {"1", 5}}}}); len(errs) != 0 {
		t.Fatalf("a key deleted after its write is not lost: %v", errs)
	}
}

func TestConverged(t *testing.T) {
	a := NodeState{ID: 1, Applied: 7, KVs: map[string]KV{"a": {"1", 5}}}
	b := NodeState{ID: 2, Applied: 7, KVs: map[string]KV{"a": {"1", 5}}}
	if err := CheckConverged([]NodeState{a, b}); err != nil {
		t.Fatal(err)
	}
	c := NodeState{ID: 3, Applied: 7, KVs: map[string]KV{"a": {"1", 6}}}
	if err := CheckConverged([]NodeState{a, c}); err == nil {
		t.Fatal("different versions not caught")
	}
	d := NodeState{ID: 3, Applied: 8, KVs: map[string]KV{"a": {"1", 5}}}
	if err := CheckConverged([]NodeState{a, d}); err == nil {
		t.Fatal("different applied indexes not caught")
	}
}

func TestExactlyOnce(t *testing.T) {
	ops := []Op{put(0, "a", "1", 0, 10, 5), get(1, "a", "1", 20, 30, 5)}
	if errs := CheckExactlyOnce(ops, []NodeState{{ID: 1, KVs: map[string]KV{"a": {"1", 5}}}}); len(errs) != 0 {
		t.Fatal(errs)
	}
	twice := append(ops, get(1, "a", "1", 40, 50, 9))
	if errs := CheckExactlyOnce(twice, nil); len(errs) != 1 || !strings.Contains(errs[0].Error(), "more than once") {
		t.Fatalf("a value at two versions: %v", errs)
	}
	if errs := CheckExactlyOnce(ops, []NodeState{{ID: 1, KVs: map[string]KV{"a": {"1", 8}}}}); len(errs) != 1 {
		t.Fatalf("a final state at another version: %v", errs)
	}
	if errs := CheckExactlyOnce(append(ops, get(1, "a", "zz", 40, 50, 9)), nil); len(errs) != 1 || !strings.Contains(errs[0].Error(), "phantom") {
		t.Fatalf("phantom: %v", errs)
	}
}

func TestRecovery(t *testing.T) {
	if err := CheckRecovery([]time.Duration{time.Second, 2 * time.Second}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if CheckRecovery([]time.Duration{time.Second, 20 * time.Second}, 10*time.Second) == nil {
		t.Fatal("slow recovery not caught")
	}
	if CheckRecovery([]time.Duration{-1}, 10*time.Second) == nil {
		t.Fatal("no recovery not caught")
	}
}

func TestObservedUnknownWritesAreBounded(t *testing.T) {
	check := func(ops []Op) porcupine.CheckResult {
		return CheckLinearizable(ops, nil, nil, time.Minute, false).Result
	}
	// Seen, then overwritten and read: fine either way.
	ok := []Op{maybePut(0, "a", "1", 0), get(1, "a", "1", 10, 20, 5), put(1, "a", "2", 30, 40, 6), get(1, "a", "2", 50, 60, 6)}
	if r := check(ok); r != porcupine.Ok {
		t.Fatalf("legal history: %v", r)
	}
	// Seen, then seen again after a later write was read: still illegal.
	bad := []Op{maybePut(0, "a", "1", 0), get(1, "a", "1", 10, 20, 5), put(1, "a", "2", 30, 40, 6), get(1, "a", "1", 50, 60, 5)}
	if r := check(bad); r != porcupine.Illegal {
		t.Fatalf("value back after being overwritten: %v", r)
	}
	// Read before it was written.
	early := []Op{get(1, "a", "1", 0, 5, 5), maybePut(0, "a", "1", 10)}
	if r := check(early); r != porcupine.Illegal {
		t.Fatalf("read before the write: %v", r)
	}
	// A maybe-cas whose value was seen must have succeeded.
	cas := []Op{put(0, "a", "1", 0, 10, 5), maybeCAS(1, "a", "2", 5, 20), get(2, "a", "2", 30, 40, 7), get(2, "a", "1", 50, 60, 5)}
	if r := check(cas); r != porcupine.Illegal {
		t.Fatalf("old value back after the cas was seen: %v", r)
	}
	// Many pending writes, each seen once: quick.
	var many []Op
	for i := 0; i < 200; i++ {
		v := fmt.Sprint(i)
		many = append(many, maybePut(i, "a", v, int64(i*100)), get(1000+i, "a", v, int64(i*100+50), int64(i*100+60), uint64(i+1)))
	}
	if r := check(many); r != porcupine.Ok {
		t.Fatalf("200 observed maybe-writes: %v", r)
	}
}

// The per-key summary of deletes answers exactly what a scan of the whole
// history answers (the definition: a delete that may have come after w).
func TestDeleteIndexMatchesAScan(t *testing.T) {
	scan := func(ops []Op, w Op) bool {
		for _, op := range ops {
			if op.In.Op == OpDelete && op.In.Key == w.In.Key && op.Return > w.Call && (op.Out.Unknown || op.Out.OK || op.Call > w.Call) {
				return true
			}
		}
		return false
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for round := 0; round < 300; round++ {
		var ops []Op
		for i := 0; i < 1+rng.IntN(30); i++ {
			k := fmt.Sprint("k", rng.IntN(3))
			call := int64(rng.IntN(100))
			ret := call + int64(rng.IntN(20))
			switch rng.IntN(4) {
			case 0:
				ops = append(ops, del(i, k, call, ret, rng.IntN(2) == 0))
			case 1:
				d := del(i, k, call, Infinity, false)
				d.Out.Unknown = true
				ops = append(ops, d)
			default:
				ops = append(ops, put(i, k, "v", call, ret, 1))
			}
		}
		idx := indexDeletes(ops)
		for _, w := range ops {
			if got, want := idx[w.In.Key].after(w), scan(ops, w); got != want {
				t.Fatalf("round %d, %+v: index says %v, a scan %v", round, w, got, want)
			}
		}
	}
}

// TestCheckByKey: checking one key at a time finds an illegal key wherever
// it sorts, and passes a history whose keys are all legal.
func TestCheckByKey(t *testing.T) {
	legal := func(k string) []Op {
		return []Op{put(0, k, k+"1", 0, 10, 5), get(1, k, k+"1", 20, 30, 5)}
	}
	stale := func(k string) []Op { // a read of a value that was overwritten before it began
		return []Op{put(0, k, k+"1", 0, 10, 5), put(0, k, k+"2", 20, 30, 6), get(1, k, k+"1", 40, 50, 5)}
	}
	for _, tc := range []struct {
		name string
		ops  []Op
		want porcupine.CheckResult
	}{
		{"all legal", append(legal("a"), legal("b")...), porcupine.Ok},
		{"first key illegal", append(stale("a"), legal("b")...), porcupine.Illegal},
		{"last key illegal", append(legal("a"), stale("z")...), porcupine.Illegal},
	} {
		if got := checkByKey(Porcupine(tc.ops), time.Minute); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := checkByKey(Porcupine(legal("a")), -time.Second); got != porcupine.Unknown {
		t.Errorf("no time left: %v, want Unknown", got)
	}
}
