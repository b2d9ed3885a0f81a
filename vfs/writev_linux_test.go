package vfs

import (
	"fmt"
	"testing"
)

const vectoredOS = true

// TestAdvance: after a write of m bytes the rest of the buffers remains,
// whether m ends between buffers, inside one or after empty ones, and the
// caller's list is never changed.
func TestAdvance(t *testing.T) {
	bufs := [][]byte{[]byte("ab"), {}, []byte("cde"), []byte("f")}
	for m, want := range []string{"[ab  cde f]", "[b  cde f]", "[cde f]", "[de f]", "[e f]", "[f]", "[]"} {
		got := fmt.Sprintf("%s", advance(bufs, m))
		if got != want {
			t.Errorf("advance by %d: %s, want %s", m, got, want)
		}
	}
	if got := fmt.Sprintf("%s", bufs); got != "[ab  cde f]" {
		t.Errorf("the caller's list changed: %s", got)
	}
}
