// Package kv is raftkv's replicated state: the commands a client proposes,
// their results, and two state machines that apply them (in memory and on
// pebble), both deterministic functions of the log with exactly-once client
// sessions.
package kv

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tickraft/raft/examples/raftkv/internal/decode"
)

// Op is what a logged command does.
type Op uint8

// The logged operations. Reads (get, scan) are not logged: they are served
// from the state machine after a read barrier.
const (
	OpPut         Op = 1 // set Key to Value
	OpDelete      Op = 2 // remove Key (no error when absent)
	OpCAS         Op = 3 // set Key to Value if its version is Version (0: absent)
	OpPutIfAbsent Op = 4 // set Key to Value if it does not exist
	OpRegister    Op = 5 // open a client session; the result's Version is the client ID
	OpSetNode     Op = 6 // record node Version's API address (Value)
)

var opNames = map[Op]string{
	OpPut: "put", OpDelete: "delete", OpCAS: "cas", OpPutIfAbsent: "put-if-absent",
	OpRegister: "register", OpSetNode: "set-node",
}

func (o Op) String() string {
	if s, ok := opNames[o]; ok {
		return s
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Request is one logged command.
type Request struct {
	Op Op
	// ClientID and Seq identify the command within a client session (both
	// zero: no session, no deduplication). Seqs of a session start at 1.
	ClientID, Seq uint64
	// AckBelow tells the state machine the client has every result with a
	// seq below it, so they can be forgotten.
	AckBelow uint64
	// Version is the expected version for OpCAS and the node ID for
	// OpSetNode.
	Version    uint64
	Key, Value []byte
}

// ErrBadCommand is wrapped by Decode's errors.
var ErrBadCommand = errors.New("kv: malformed command")

// Encode appends the command's binary form to b.
func (r *Request) Encode(b []byte) []byte {
	b = append(b, byte(r.Op))
	b = binary.AppendUvarint(b, r.ClientID)
	b = binary.AppendUvarint(b, r.Seq)
	b = binary.AppendUvarint(b, r.AckBelow)
	b = binary.AppendUvarint(b, r.Version)
	b = binary.AppendUvarint(b, uint64(len(r.Key)))
	b = append(b, r.Key...)
	b = binary.AppendUvarint(b, uint64(len(r.Value)))
	return append(b, r.Value...)
}

// Decode parses a command produced by Encode. Key and Value alias b.
func Decode(b []byte) (Request, error) {
	var r Request
	d := decode.New(b, ErrBadCommand)
	r.Op = Op(d.Byte())
	r.ClientID = d.Uvarint()
	r.Seq = d.Uvarint()
	r.AckBelow = d.Uvarint()
	r.Version = d.Uvarint()
	r.Key = d.Bytes()
	r.Value = d.Bytes()
	if len(d.B) != 0 {
		d.Fail("%d trailing bytes", len(d.B))
	}
	if opNames[r.Op] == "" {
		d.Fail("unknown op %d", r.Op)
	}
	return r, d.Err
}

// Code is a command's outcome.
type Code uint8

// The outcomes of a logged command.
const (
	OK Code = iota
	// VersionMismatch: a CAS found another version (Result.Version is the
	// current one, 0 when absent).
	VersionMismatch
	// Exists: put-if-absent found the key (Result.Version is its version).
	Exists
	// SessionExpired: the client session is unknown (never registered, or
	// evicted); the command was not applied. The client must register a
	// new session; whether an earlier attempt was applied is unknown.
	SessionExpired
	// SessionStale: the seq is below what the client acknowledged, so its
	// result was discarded; the command was not applied again.
	SessionStale
	// BadCommand: the command could not be decoded; nothing changed.
	BadCommand
)

var codeNames = [...]string{"ok", "version_mismatch", "exists", "session_expired", "session_stale", "bad_command"}

func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("code(%d)", uint8(c))
}

// Result is what a logged command returns to its proposer.
type Result struct {
	Code Code `json:"code"`
	// Version is the key's version after the command (the command's log
	// index for a write that happened), the current version when a
	// condition failed, or the client ID for OpRegister.
	Version uint64 `json:"version"`
	// Existed reports for OpDelete whether the key was there.
	Existed bool `json:"existed,omitempty"`
}

// KV is one key as read from the state machine.
type KV struct {
	Key     []byte
	Value   []byte
	Version uint64
}
