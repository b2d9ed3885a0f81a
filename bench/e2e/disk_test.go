package main

import (
	"os"
	"testing"
)

// TestFsyncRounds: the probe measures something, refuses impossible
// quorums, and leaves no probe file behind.
func TestFsyncRounds(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ writers, need int }{{1, 1}, {3, 2}, {3, 3}} {
		d, err := fsyncRounds(dir, tc.writers, tc.need, 3)
		if err != nil {
			t.Fatalf("%d of %d writers: %v", tc.need, tc.writers, err)
		}
		if d <= 0 {
			t.Fatalf("%d of %d writers: median %v", tc.need, tc.writers, d)
		}
	}
	for _, tc := range []struct{ writers, need, n int }{{3, 0, 3}, {3, 4, 3}, {1, 1, 0}} {
		if _, err := fsyncRounds(dir, tc.writers, tc.need, tc.n); err == nil {
			t.Fatalf("%d of %d writers over %d rounds: no error", tc.need, tc.writers, tc.n)
		}
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Fatalf("probe files left behind: %v (%v)", ents, err)
	}
}
