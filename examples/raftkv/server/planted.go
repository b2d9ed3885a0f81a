//go:build !chaosbugs

package server

// The planted bugs of the chaos tests' proof that they catch bugs: absent
// from normal builds (see planted_chaosbugs.go).
const (
	bugStaleReads     = "stale-reads"      // reads served locally, without ReadIndex or lease
	bugAckBeforeFsync = "ack-before-fsync" // the wal never fsyncs: writes acknowledged before they are durable
)

func plantedBug(string) bool { return false }
