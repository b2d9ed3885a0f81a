package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// Every normal entry the replica proposes starts with a header naming the
// proposal, so the node that proposed it can route the result to its
// caller: a tag byte, the proposing replica's epoch (random per start, so
// an entry proposed before a restart never completes a new proposal) and a
// sequence number.
const (
	headerTag  = 0xA5
	headerSize = 1 + 8 + 8
)

func putHeader(b []byte, epoch, seq uint64) {
	b[0] = headerTag
	binary.LittleEndian.PutUint64(b[1:9], epoch)
	binary.LittleEndian.PutUint64(b[9:17], seq)
}

var errBadHeader = errors.New("replica: entry without a proposal header")

func parseHeader(b []byte) (epoch, seq uint64, cmd []byte, err error) {
	if len(b) < headerSize || b[0] != headerTag {
		return 0, 0, nil, errBadHeader
	}
	return binary.LittleEndian.Uint64(b[1:9]), binary.LittleEndian.Uint64(b[9:17]), b[headerSize:], nil
}

// A configuration change's context is the same header followed by the
// addresses of the members it adds: count, then (id, address) pairs.
func encodeContext(epoch, seq uint64, members []Member) []byte {
	b := make([]byte, headerSize, headerSize+16*len(members))
	putHeader(b, epoch, seq)
	return appendMembers(b, members)
}

func decodeContext(b []byte) (epoch, seq uint64, members []Member, err error) {
	if len(b) == 0 {
		return 0, 0, nil, nil // a change raft proposed itself (leaving a joint configuration)
	}
	epoch, seq, rest, err := parseHeader(b)
	if err != nil {
		return 0, 0, nil, err
	}
	members, _, err = readMembers(rest)
	return epoch, seq, members, err
}

func appendMembers(b []byte, members []Member) []byte {
	b = binary.AppendUvarint(b, uint64(len(members)))
	for _, m := range members {
		b = binary.AppendUvarint(b, m.ID)
		b = binary.AppendUvarint(b, uint64(len(m.Addr)))
		b = append(b, m.Addr...)
	}
	return b
}

func readMembers(b []byte) ([]Member, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, nil, fmt.Errorf("replica: bad member list")
	}
	b = b[k:]
	members := make([]Member, 0, n)
	for range n {
		id, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, nil, fmt.Errorf("replica: bad member id")
		}
		b = b[k:]
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, nil, fmt.Errorf("replica: bad member address")
		}
		b = b[k:]
		members = append(members, Member{ID: id, Addr: string(b[:l])})
		b = b[l:]
	}
	return members, b, nil
}

// A snapshot's descriptor (the Data of the raft snapshot in the log store)
// holds a version byte and the member addresses as of the snapshot; the
// state machine's data is in the SnapshotStore under the snapshot's index
// and term.
const descriptorVersion = 1

func encodeDescriptor(addrs map[uint64]string) []byte {
	members := sortedMembers(addrs)
	return appendMembers([]byte{descriptorVersion}, members)
}

func decodeDescriptor(b []byte) (map[uint64]string, error) {
	if len(b) == 0 {
		return map[uint64]string{}, nil
	}
	if b[0] != descriptorVersion {
		return nil, fmt.Errorf("replica: unknown snapshot descriptor version %d", b[0])
	}
	members, _, err := readMembers(b[1:])
	if err != nil {
		return nil, err
	}
	addrs := make(map[uint64]string, len(members))
	for _, m := range members {
		addrs[m.ID] = m.Addr
	}
	return addrs, nil
}

func sortedMembers(addrs map[uint64]string) []Member {
	members := make([]Member, 0, len(addrs))
	for id, a := range addrs {
		members = append(members, Member{ID: id, Addr: a})
	}
	sort.Slice(members, func(i, j int) bool { return members[i].ID < members[j].ID })
	return members
}
