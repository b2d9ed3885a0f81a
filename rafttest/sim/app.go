package sim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"

	pb "github.com/tickraft/raft/raftpb"
	"google.golang.org/protobuf/proto"
)

// The simulated application's state machine records, for every log index
// it applied, what was there. That is enough to compare what different
// nodes applied, and it is what its snapshots carry. It is kept "on disk":
// a crash does not lose it, and every entry applied is recorded at once.

// appEntry is what the state machine remembers of one applied entry: its
// term and a fingerprint of its contents (see fingerprint).
type appEntry struct {
	term, fp uint64
}

// appState is a node's state machine, durable alongside its storage.
type appState struct {
	// applied is the index of the last entry applied.
	applied uint64
	// log[i] describes the entry applied at index i, for i in 1..applied;
	// log[0] is unused. Snapshots carry all of it, so a node that restored
	// one still knows every index below.
	log []appEntry
	// conf is the configuration as of applied: the last ApplyConfChange
	// result, or the restored snapshot's.
	conf *pb.ConfState
}

func newAppState() appState {
	return appState{log: make([]appEntry, 1), conf: &pb.ConfState{}}
}

// payloadFlag marks the fingerprints of proposals; conf changes have
// confFlag; an empty entry has fingerprint 0.
const (
	payloadFlag = 1 << 62
	confFlag    = 1 << 63
)

// fingerprint summarizes an entry's type and data in 64 bits: a proposal
// made by the simulator is payloadFlag|id, exact and unique; a
// configuration change is a hash of its encoding with confFlag; an empty
// entry is 0. Anything else is hashed too.
func fingerprint(e *pb.Entry) uint64 {
	if e.Type == pb.EntryNormal {
		if len(e.Data) == 0 {
			return 0
		}
		if id, ok := payloadID(e.Data); ok {
			return payloadFlag | id
		}
	}
	h := fnv.New64a()
	h.Write([]byte{byte(e.Type)})
	h.Write(e.Data)
	return confFlag | h.Sum64()>>2
}

// payloadID returns the id of a proposal made by the simulator.
func payloadID(data []byte) (uint64, bool) {
	if len(data) < 8 || isReadCtx(data) {
		return 0, false
	}
	for _, b := range data[8:] {
		if b != 0 {
			return 0, false
		}
	}
	return binary.BigEndian.Uint64(data), true
}

// payload builds the data of proposal id, padded with pad zero bytes.
func payload(id uint64, pad int) []byte {
	b := make([]byte, 8+pad)
	binary.BigEndian.PutUint64(b, id)
	return b
}

// readPrefix starts every ReadIndex request context.
var readPrefix = []byte("read")

func readCtx(id uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), readPrefix...), id)
}

func isReadCtx(b []byte) bool {
	return len(b) == len(readPrefix)+8 && bytes.HasPrefix(b, readPrefix)
}

func readID(ctx []byte) (uint64, bool) {
	if !isReadCtx(ctx) {
		return 0, false
	}
	return binary.BigEndian.Uint64(ctx[len(readPrefix):]), true
}

// encode returns the state machine as snapshot data: the applied index's
// entries, 16 bytes each.
func (a *appState) encode() []byte {
	b := make([]byte, 0, 16*a.applied)
	for _, e := range a.log[1 : a.applied+1] {
		b = binary.BigEndian.AppendUint64(b, e.term)
		b = binary.BigEndian.AppendUint64(b, e.fp)
	}
	return b
}

// decodeApp rebuilds a state machine from a snapshot.
func decodeApp(snap *pb.Snapshot) (appState, error) {
	md := snap.GetMetadata()
	data := snap.GetData()
	if uint64(len(data)) != 16*md.GetIndex() {
		return appState{}, fmt.Errorf("snapshot at index %d holds %d bytes of state, want %d",
			md.GetIndex(), len(data), 16*md.GetIndex())
	}
	a := appState{applied: md.GetIndex(), log: make([]appEntry, md.GetIndex()+1)}
	for i := range a.applied {
		a.log[i+1] = appEntry{
			term: binary.BigEndian.Uint64(data[16*i:]),
			fp:   binary.BigEndian.Uint64(data[16*i+8:]),
		}
	}
	if a.applied > 0 && a.log[a.applied].term != md.GetTerm() {
		return appState{}, errors.New("snapshot term differs from the term of its last entry")
	}
	a.conf = &pb.ConfState{}
	if cs := md.GetConfState(); cs != nil {
		a.conf = proto.Clone(cs).(*pb.ConfState)
	}
	return a, nil
}
