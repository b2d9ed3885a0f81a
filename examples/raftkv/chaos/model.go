// Package chaos tests a raftkv cluster of real processes under faults
// (kills, pauses, partitions, disk faults, membership changes, tick skew)
// and checks what clients saw: linearizability with porcupine, and after
// healing that nothing acknowledged was lost, that every node converged to
// the same state, that no write was applied twice and that the cluster
// served again within a bound.
package chaos

import (
	"fmt"
	"hash/fnv"
	"math"
	"sort"

	"github.com/anishathalye/porcupine"
)

// Kinds of operations in a history.
const (
	OpGet    = "get"
	OpPut    = "put"
	OpCAS    = "cas"
	OpDelete = "delete"
)

// Input is what a client asked.
type Input struct {
	Op    string `json:"op"`
	Key   string `json:"key"`
	Value string `json:"value,omitempty"` // put, cas: unique per write
	// Expect is a cas's expected version (0: the key must be absent).
	Expect uint64 `json:"expect,omitempty"`
}

// Output is what the client was told. Unknown: no answer, or an answer
// that does not say whether a write was applied (its Return is then
// infinity: it may take effect at any time after its call, or never).
type Output struct {
	Unknown bool `json:"unknown,omitempty"`
	// OK: a get found the key, a cas succeeded, a delete found the key.
	OK      bool   `json:"ok,omitempty"`
	Value   string `json:"value,omitempty"` // get
	Version uint64 `json:"version,omitempty"`
}

// Infinity is the return time of an operation whose outcome is unknown.
const Infinity = int64(math.MaxInt64)

// state is one key in the model. Version 0 on an existing key means not
// known yet (written by a write whose answer was lost); the first
// observation pins it.
type state struct {
	Exists  bool
	Value   string
	Version uint64
}

// step returns the states a key can be in after the operation, none if
// the output is impossible from s.
func step(s state, in Input, out Output) []state {
	switch in.Op {
	case OpGet:
		return stepGet(s, out)
	case OpPut:
		if out.Unknown {
			return []state{{Exists: true, Value: in.Value}}
		}
		if s.Version != 0 && out.Version <= s.Version {
			return nil // versions are log indexes: they only grow
		}
		return []state{{Exists: true, Value: in.Value, Version: out.Version}}
	case OpDelete:
		if !out.Unknown && out.OK != s.Exists {
			return nil
		}
		return []state{{}}
	case OpCAS:
		return stepCAS(s, in, out)
	}
	return nil
}

func stepGet(s state, out Output) []state {
	switch {
	case out.Unknown:
		return []state{s}
	case !out.OK:
		if s.Exists {
			return nil
		}
		return []state{s}
	case !s.Exists || s.Value != out.Value || (s.Version != 0 && s.Version != out.Version):
		return nil
	}
	return []state{{Exists: true, Value: out.Value, Version: out.Version}}
}

// matches says whether a cas expecting version e can succeed on s (an
// unknown version might be e).
func matches(s state, e uint64) bool {
	if e == 0 {
		return !s.Exists
	}
	return s.Exists && (s.Version == e || s.Version == 0)
}

func stepCAS(s state, in Input, out Output) []state {
	success := state{Exists: true, Value: in.Value, Version: out.Version}
	switch {
	case out.Unknown:
		if matches(s, in.Expect) {
			// Either it was applied, or it never will be (its return is
			// infinite, so "never" linearizes it after everything and
			// leaves s; that branch is the failed one).
			success.Version = 0
			return []state{s, success}
		}
		return []state{s}
	case out.OK:
		if !matches(s, in.Expect) || out.Version <= in.Expect {
			return nil
		}
		return []state{success}
	}
	// A mismatch reports the current version (0: absent).
	if out.Version == 0 {
		if s.Exists || in.Expect == 0 {
			return nil
		}
		return []state{s}
	}
	if !s.Exists || out.Version == in.Expect || (s.Version != 0 && s.Version != out.Version) {
		return nil
	}
	return []state{{Exists: true, Value: s.Value, Version: out.Version}}
}

// Model is the porcupine model of one raftkv key space, partitioned per
// key.
var Model = nondeterministic.ToModel()

var nondeterministic = &porcupine.NondeterministicModel{
	Partition: partitionByKey,
	Init:      func() []any { return []any{state{}} },
	Step: func(st, in, out any) []any {
		next := step(st.(state), in.(Input), out.(Output))
		res := make([]any, len(next))
		for i, n := range next {
			res[i] = n
		}
		return res
	},
	Hash: func(st any) uint64 {
		s := st.(state)
		h := fnv.New64a()
		fmt.Fprintf(h, "%t|%s|%d", s.Exists, s.Value, s.Version)
		return h.Sum64()
	},
	DescribeOperation: describeOp,
	DescribeState: func(st any) string {
		s := st.(state)
		if !s.Exists {
			return "absent"
		}
		if s.Version == 0 {
			return fmt.Sprintf("%q@?", s.Value)
		}
		return fmt.Sprintf("%q@%d", s.Value, s.Version)
	},
}

func describeOp(in, out any) string {
	i, o := in.(Input), out.(Output)
	res := ""
	switch {
	case o.Unknown:
		res = "?"
	case i.Op == OpGet && !o.OK:
		res = "absent"
	case i.Op == OpGet:
		res = fmt.Sprintf("%q@%d", o.Value, o.Version)
	case i.Op == OpDelete:
		res = fmt.Sprintf("existed=%t", o.OK)
	case i.Op == OpCAS && !o.OK:
		res = fmt.Sprintf("mismatch@%d", o.Version)
	default:
		res = fmt.Sprintf("ok@%d", o.Version)
	}
	switch i.Op {
	case OpGet, OpDelete:
		return fmt.Sprintf("%s(%s) -> %s", i.Op, i.Key, res)
	case OpCAS:
		return fmt.Sprintf("cas(%s, %q, @%d) -> %s", i.Key, i.Value, i.Expect, res)
	}
	return fmt.Sprintf("put(%s, %q) -> %s", i.Key, i.Value, res)
}

func partitionByKey(h []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	for _, op := range h {
		k := op.Input.(Input).Key
		byKey[k] = append(byKey[k], op)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][]porcupine.Operation, 0, len(keys))
	for _, k := range keys {
		out = append(out, byKey[k])
	}
	return out
}
