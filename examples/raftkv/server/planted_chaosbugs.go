//go:build chaosbugs

package server

import "os"

// The planted bug of the chaos tests' proof that they catch bugs: this
// build (-tags chaosbugs) turns it on when $RAFTKV_PLANTED_BUG names it.
// (The other planted bug, ack-before-fsync, is in cmd/raftkv.) Never ship
// this build.
const (
	bugStaleReads = "stale-reads" // reads served locally, without ReadIndex or lease
)

var planted = os.Getenv("RAFTKV_PLANTED_BUG")

func plantedBug(name string) bool { return planted == name }
