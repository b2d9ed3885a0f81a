package driver

import (
	"encoding/binary"
	"errors"
)

// A put's payload, the data of its log entry:
//
//	[0:8)   request ID, big endian: (client slot + 1) << 40 | sequence
//	[8:10)  key length, big endian
//	[10:..) key, then value
const putHeader = 10

// slotShift places the client slot above a 40-bit sequence number.
const slotShift = 40

var errBadPayload = errors.New("driver: malformed put payload")

// EncodePut returns a new payload for a put of key and value with request
// ID id.
func EncodePut(id uint64, key, value []byte) []byte {
	b := make([]byte, putHeader+len(key)+len(value))
	binary.BigEndian.PutUint64(b, id)
	binary.BigEndian.PutUint16(b[8:], uint16(len(key)))
	copy(b[putHeader:], key)
	copy(b[putHeader+len(key):], value)
	return b
}

// decodePut splits a payload made by EncodePut. key and value alias data.
func decodePut(data []byte) (id uint64, key, value []byte, err error) {
	if len(data) < putHeader {
		return 0, nil, nil, errBadPayload
	}
	id = binary.BigEndian.Uint64(data)
	n := int(binary.BigEndian.Uint16(data[8:]))
	if len(data) < putHeader+n {
		return 0, nil, nil, errBadPayload
	}
	return id, data[putHeader : putHeader+n], data[putHeader+n:], nil
}

// requestID builds the ID of a client's seq-th request.
func requestID(slot int, seq uint64) uint64 {
	return uint64(slot+1)<<slotShift | seq&(1<<slotShift-1)
}

// requestSlot returns the client slot of a request ID, or -1 if it names
// none.
func requestSlot(id uint64) int {
	return int(id>>slotShift) - 1
}

// DecodePut splits a payload made by EncodePut into its request ID, key
// and value; key and value alias data. It is for adapters of libraries
// that apply entries themselves.
func DecodePut(data []byte) (id uint64, key, value []byte, err error) {
	return decodePut(data)
}

// UnsafeString views b as a string without copying: b must never change
// afterwards.
func UnsafeString(b []byte) string { return unsafeString(b) }

// RequestID is the ID of a client's seq-th request, for adapters that
// encode payloads themselves.
func RequestID(slot int, seq uint64) uint64 { return requestID(slot, seq) }
