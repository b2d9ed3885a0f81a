//go:build !chaosbugs

package server

// The planted bug of the chaos tests' proof that they catch bugs: absent
// from normal builds (see planted_chaosbugs.go).
const (
	bugStaleReads = "stale-reads" // reads served locally, without ReadIndex or lease
)

func plantedBug(string) bool { return false }
