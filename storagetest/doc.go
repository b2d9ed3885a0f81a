// Package storagetest checks that a raft.Storage implementation keeps the
// storage contract: one call, Run, runs the whole conformance suite on a
// store, each check as a named subtest, so a failing store learns which
// promise it broke.
//
// A store under test has the write methods of raft.MemoryStorage (the Store
// interface). To run the suite on yours, call Run from a test with a
// Harness that opens an empty store in a directory the suite provides:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, storagetest.Harness{
//			Open: func(t testing.TB, dir string) (storagetest.Store, error) {
//				return mystore.Open(dir)
//			},
//			// For a durable store: shut it down and open what is left on
//			// disk; the suite then reopens it after every write.
//			Reopen: func(t testing.TB, s storagetest.Store, dir string) (storagetest.Store, error) {
//				if err := s.(*mystore.Store).Close(); err != nil {
//					return nil, err
//				}
//				return mystore.Open(dir)
//			},
//			Close: func(s storagetest.Store) error { return s.(*mystore.Store).Close() },
//		})
//	}
//
// and run it with the race detector: go test -race. raft.MemoryStorage runs
// the suite in the raft package's tests.
//
// # What it checks
//
// Every write goes to the store and to a reference model kept by the
// suite. After each write the store's answer must be the model's (success,
// or the exact error value, matched with errors.Is: raft.ErrCompacted,
// raft.ErrUnavailable, raft.ErrSnapOutOfDate, or some error for bad input),
// and everything the store reads must equal the model: InitialState,
// FirstIndex, LastIndex, Term at every index of the log and just outside
// it, Entries over the whole log and its edges (every range of a short
// log), and Snapshot. A durable store (Harness.Reopen set) is then closed
// and reopened, and compared again. On top of that, the groups of checks
// cover:
//
//   - Empty: a new store reads as an empty log starting after index 0.
//   - Append: extending, replacing a conflicting suffix (also a longer one
//     than the new entries), entries before the compaction point skipped,
//     entry types and payloads, a log of thousands of entries.
//   - AppendRefused: a gap, indexes not consecutive, a nil entry, an index
//     wrapping around: an error, and nothing changes.
//   - HardState: round trips, nil refused, kept across log writes.
//   - Entries: the size limit, byte for byte (the longest prefix within
//     maxSize of proto-encoded entries, at least one entry), every range
//     around a snapshot's index, an inverted range refused without a panic.
//   - ApplySnapshot and CreateSnapshot: replacing the log, conf state and
//     data round trips, out-of-date snapshots, a nil snapshot refused with
//     its own error.
//   - Compact: every edge, from one entry to the whole log, behind the
//     snapshot, and the errors before the compaction point and past the log.
//   - ReturnedEntries: what Entries returned never changes afterwards, as
//     raft.Storage promises.
//   - Model: seeded random sequences of valid and invalid writes.
//   - Concurrent: readers calling every read method while a writer appends,
//     replaces suffixes, snapshots and compacts; each answer must be whole
//     and consistent. Its value is greatest under -race.
//   - RawNode: a single-node cluster bootstraps on the store, commits,
//     snapshots and compacts, restarts from the store (reopened, if
//     durable) and goes on where it left off.
//
// The suite does not crash the store's files or inject faults (a durable
// store needs crash tests of its own), nor check
// raft.ErrSnapshotTemporarilyUnavailable, which the Store's synchronous
// CreateSnapshot never calls for.
//
// The suite keeps the callers' side of the contract: it never modifies an
// entry, hard state or snapshot it has handed to the store (raft does not
// either), never cuts the log at or below the latest snapshot and never
// compacts past it, except to check the errors for out-of-range indexes.
package storagetest
