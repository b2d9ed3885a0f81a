package decode

import (
	"encoding/binary"
	"errors"
	"testing"
)

var errBad = errors.New("bad")

func TestReadsFieldsAndKeepsTheFirstError(t *testing.T) {
	b := binary.BigEndian.AppendUint64([]byte{7}, 1<<40)
	b = binary.AppendUvarint(b, 300)
	b = binary.AppendUvarint(b, 3)
	b = append(b, "abc"...)
	d := New(b, errBad)
	if d.Byte() != 7 || d.U64() != 1<<40 || d.Uvarint() != 300 || string(d.Bytes()) != "abc" || d.Err != nil || len(d.B) != 0 {
		t.Fatalf("read back wrong: err %v, %d bytes left", d.Err, len(d.B))
	}
	if d.Byte() != 0 || !errors.Is(d.Err, errBad) {
		t.Fatalf("reading past the end: %v, want an error wrapping the sentinel", d.Err)
	}
	first := d.Err
	d.Uvarint()
	d.Fail("later")
	if d.Err != first {
		t.Fatalf("a later failure replaced the first: %v", d.Err)
	}
}

func TestRefusesWhatDoesNotFit(t *testing.T) {
	for name, b := range map[string][]byte{
		"string longer than the rest": binary.AppendUvarint(nil, 1<<40),
		"varint never ends":           {0xff, 0xff},
		"short uint64":                {1, 2, 3},
	} {
		d := New(b, errBad)
		switch name {
		case "short uint64":
			d.U64()
		case "varint never ends":
			d.Uvarint()
		default:
			if d.Bytes() != nil {
				t.Fatalf("%s: returned bytes", name)
			}
		}
		if !errors.Is(d.Err, errBad) {
			t.Fatalf("%s: %v", name, d.Err)
		}
	}
}
