package chaos

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
)

// KV is one key of a node's final state.
type KV struct {
	Value   string `json:"value"`
	Version uint64 `json:"version"`
}

// NodeState is what one node holds after healing: its applied index and
// its keys (of the key space under test).
type NodeState struct {
	ID      uint64        `json:"id"`
	Applied uint64        `json:"applied"`
	KVs     map[string]KV `json:"kvs"`
}

// Digest hashes a node's keys, versions and values in key order.
func (n NodeState) Digest() string {
	keys := make([]string, 0, len(n.KVs))
	for k := range n.KVs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		kv := n.KVs[k]
		fmt.Fprintf(h, "%q=%q@%d\n", k, kv.Value, kv.Version)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// LinResult is the outcome of the linearizability check.
type LinResult struct {
	Result   porcupine.CheckResult
	Ops      int // operations checked (final reads included)
	Duration time.Duration
	Info     porcupine.LinearizationInfo
}

// CheckLinearizable checks a history with porcupine. Each node's final
// state joins the history as reads of every key that start after every
// operation returned, so a write acknowledged but lost, or a state that no
// order of the operations explains, makes the history illegal. The result
// carries porcupine's linearization info (for its visualization) when the
// history is illegal, or when verbose asks for it on a legal one.
func CheckLinearizable(ops []Op, final []NodeState, keys []string, timeout time.Duration, verbose bool) LinResult {
	h := Porcupine(ops)
	h = append(h, finalReads(ops, final, keys)...)
	h = resolveObserved(h)
	start := time.Now()
	// The verbose check keeps every partition's longest partial
	// linearization for the visualization, which costs a copy per step
	// on long histories: only a history that fails (or a caller who
	// asks, verbose) pays for it.
	res := checkByKey(h, timeout)
	var info porcupine.LinearizationInfo
	if res == porcupine.Illegal || (verbose && res == porcupine.Ok) {
		res, info = porcupine.CheckOperationsVerbose(Model, h, timeout)
	}
	return LinResult{Result: res, Ops: len(h), Duration: time.Since(start), Info: info}
}

// checkByKey checks one key's operations at a time, within timeout in
// all: porcupine checks every key of a history at once, each with its own
// search state, and a ten-minute history with writes of unknown outcome in
// several keys ran out of memory (24 GB) that way. Keys are independent in
// the model, so the verdict is the same: illegal if any key is, unknown if
// any key's check ran out of time.
func checkByKey(h []porcupine.Operation, timeout time.Duration) porcupine.CheckResult {
	deadline := time.Now().Add(timeout)
	res := porcupine.Ok
	for _, part := range partitionByKey(h) {
		left := time.Until(deadline)
		if left <= 0 {
			return porcupine.Unknown
		}
		switch porcupine.CheckOperationsTimeout(Model, part, left) {
		case porcupine.Illegal:
			return porcupine.Illegal
		case porcupine.Unknown:
			res = porcupine.Unknown
		}
	}
	return res
}

// finalReads turns node states into reads after the end of the history.
func finalReads(ops []Op, final []NodeState, keys []string) []porcupine.Operation {
	end, client := int64(0), 0
	for _, op := range ops {
		if op.Return != Infinity {
			end = max(end, op.Return)
		}
		end = max(end, op.Call)
		client = max(client, op.Client+1)
	}
	var out []porcupine.Operation
	for i, n := range final {
		for _, k := range keys {
			kv, ok := n.KVs[k]
			o := Output{OK: ok, Value: kv.Value, Version: kv.Version}
			out = append(out, porcupine.Operation{ClientId: client + i, Input: Input{Op: OpGet, Key: k}, Output: o,
				Call: end + 1 + int64(i)*2, Return: end + 2 + int64(i)*2, Metadata: fmt.Sprintf("final state of node %d", n.ID)})
		}
	}
	return out
}

// CheckConverged: every node applied the same index and holds the same
// state.
func CheckConverged(final []NodeState) error {
	if len(final) == 0 {
		return fmt.Errorf("no node states to compare")
	}
	first := final[0]
	for _, n := range final[1:] {
		if n.Applied != first.Applied || n.Digest() != first.Digest() {
			return fmt.Errorf("nodes diverged: node %d applied %d digest %s, node %d applied %d digest %s",
				first.ID, first.Applied, first.Digest(), n.ID, n.Applied, n.Digest())
		}
	}
	return nil
}

// CheckAcknowledged: every acknowledged write is on every node: the node
// applied its log index, and the key holds that write or a later one (a
// later version, or absent when a delete may have come after it).
func CheckAcknowledged(ops []Op, final []NodeState) (verified int, errs []error) {
	deletes := indexDeletes(ops)
	for _, op := range ops {
		if op.Out.Unknown || (op.In.Op != OpPut && !(op.In.Op == OpCAS && op.Out.OK)) {
			continue
		}
		verified++
		for _, n := range final {
			kv, ok := n.KVs[op.In.Key]
			switch {
			case n.Applied < op.Out.Version:
				errs = append(errs, fmt.Errorf("node %d applied only %d, before the acknowledged %s", n.ID, n.Applied, describeOp(op.In, op.Out)))
			case ok && kv.Version < op.Out.Version:
				errs = append(errs, fmt.Errorf("node %d holds %s=%q@%d, older than the acknowledged %s", n.ID, op.In.Key, kv.Value, kv.Version, describeOp(op.In, op.Out)))
			case ok && kv.Version == op.Out.Version && kv.Value != op.In.Value:
				errs = append(errs, fmt.Errorf("node %d holds %s=%q at the version of the acknowledged %s", n.ID, op.In.Key, kv.Value, describeOp(op.In, op.Out)))
			case !ok && !deletes[op.In.Key].after(op):
				errs = append(errs, fmt.Errorf("node %d lost key %s: no delete after the acknowledged %s", n.ID, op.In.Key, describeOp(op.In, op.Out)))
			}
		}
	}
	return verified, errs
}

// keyDeletes summarizes one key's deletes for deleteTimes.after: a scan of
// the history per acknowledged write made the check quadratic (a 5-node
// ten-minute run spent over ten minutes in it).
type keyDeletes struct {
	// lastReturn is the latest return of a delete that took effect or may
	// have (OK or unknown outcome); lastCall the latest call of any delete.
	lastReturn, lastCall int64
	any                  bool
}

func indexDeletes(ops []Op) map[string]keyDeletes {
	out := map[string]keyDeletes{}
	for _, op := range ops {
		if op.In.Op != OpDelete {
			continue
		}
		d := out[op.In.Key]
		if !d.any {
			d = keyDeletes{lastReturn: math.MinInt64, lastCall: math.MinInt64, any: true}
		}
		if op.Out.Unknown || op.Out.OK {
			d.lastReturn = max(d.lastReturn, op.Return)
		}
		d.lastCall = max(d.lastCall, op.Call)
		out[op.In.Key] = d
	}
	return out
}

// after says whether a delete of w's key may have come after w (it had not
// returned when w was called): one that took effect, or may have, and
// returned after w's call, or any that was called after w was (it returned
// later still).
func (d keyDeletes) after(w Op) bool {
	return d.any && (d.lastReturn > w.Call || d.lastCall > w.Call)
}

// CheckExactlyOnce: every value is written by one write, so it may be seen
// at one version only; a value seen at two versions was applied twice (a
// retried write the session failed to deduplicate). A value no write
// carried is a phantom.
func CheckExactlyOnce(ops []Op, final []NodeState) []error {
	written := map[string]string{} // value -> key
	for _, op := range ops {
		if op.In.Op == OpPut || op.In.Op == OpCAS {
			written[op.In.Value] = op.In.Key
		}
	}
	seen := map[string]map[uint64]string{} // value -> version -> where
	note := func(key, value string, version uint64, where string) {
		if seen[value] == nil {
			seen[value] = map[uint64]string{}
		}
		if _, ok := seen[value][version]; !ok {
			seen[value][version] = where
		}
		_ = key
	}
	var errs []error
	for _, op := range ops {
		switch {
		case op.Out.Unknown:
		case op.In.Op == OpPut || (op.In.Op == OpCAS && op.Out.OK):
			note(op.In.Key, op.In.Value, op.Out.Version, "the answer to "+describeOp(op.In, op.Out))
		case op.In.Op == OpGet && op.Out.OK:
			if k, ok := written[op.Out.Value]; !ok || k != op.In.Key {
				errs = append(errs, fmt.Errorf("phantom: %s read a value no write put there", describeOp(op.In, op.Out)))
			}
			note(op.In.Key, op.Out.Value, op.Out.Version, describeOp(op.In, op.Out))
		}
	}
	for _, n := range final {
		for k, kv := range n.KVs {
			if wk, ok := written[kv.Value]; !ok || wk != k {
				errs = append(errs, fmt.Errorf("phantom: node %d holds %s=%q that no write put there", n.ID, k, kv.Value))
			}
			note(k, kv.Value, kv.Version, fmt.Sprintf("node %d's final state", n.ID))
		}
	}
	vals := make([]string, 0, len(seen))
	for v := range seen {
		vals = append(vals, v)
	}
	sort.Strings(vals)
	for _, v := range vals {
		if len(seen[v]) > 1 {
			errs = append(errs, fmt.Errorf("value %q applied more than once: seen at versions %v", v, seen[v]))
		}
	}
	return errs
}

// CheckRecovery: after each heal the cluster served a write and a read
// within bound (a negative time: it never did).
func CheckRecovery(times []time.Duration, bound time.Duration) error {
	for i, t := range times {
		if t < 0 || t > bound {
			return fmt.Errorf("recovery %d of %d took %v (bound %v; negative: never)", i+1, len(times), t, bound)
		}
	}
	return nil
}

// resolveObserved bounds the writes with unknown outcomes whose value a
// read saw. A value is written by one write only, so that write took
// effect before the first read that returned it, at the version the read
// reports: it gets that read's return time and that version as its
// answer. Every linearization of the history orders the write before that
// read, so this changes no verdict; it spares porcupine from trying each
// pending write at every later point (with tens of unknown writes per key
// in a ten-minute run that search does not finish). Unknown writes no read
// saw stay pending to the end.
func resolveObserved(h []porcupine.Operation) []porcupine.Operation {
	type seen struct {
		ret     int64
		version uint64
	}
	first := map[string]seen{} // key+value -> earliest observing read
	for _, op := range h {
		in, out := op.Input.(Input), op.Output.(Output)
		if in.Op != OpGet || out.Unknown || !out.OK {
			continue
		}
		k := in.Key + "\x00" + out.Value
		if s, ok := first[k]; !ok || op.Return < s.ret {
			first[k] = seen{op.Return, out.Version}
		}
	}
	out := make([]porcupine.Operation, len(h))
	copy(out, h)
	for i, op := range out {
		in, o := op.Input.(Input), op.Output.(Output)
		if !o.Unknown || (in.Op != OpPut && in.Op != OpCAS) {
			continue
		}
		s, ok := first[in.Key+"\x00"+in.Value]
		if !ok {
			continue
		}
		if s.ret < op.Call {
			continue // read before it was written: leave it to the checker to reject
		}
		out[i].Return = s.ret
		out[i].Output = Output{OK: true, Version: s.version}
	}
	return out
}
