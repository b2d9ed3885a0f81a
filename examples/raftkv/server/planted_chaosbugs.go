//go:build chaosbugs

package server

import "os"

// The planted bugs of the chaos tests' proof that they catch bugs; this
// build (-tags chaosbugs) turns on the one named by $RAFTKV_PLANTED_BUG.
// Never ship it.
const (
	bugStaleReads     = "stale-reads"      // reads served locally, without ReadIndex or lease
	bugAckBeforeFsync = "ack-before-fsync" // the wal never fsyncs: writes acknowledged before they are durable
)

var planted = os.Getenv("RAFTKV_PLANTED_BUG")

func plantedBug(name string) bool { return planted == name }
