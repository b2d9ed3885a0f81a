/*
Package wal is a durable raft.Storage: a write-ahead log of segment files
that takes each Ready's writes in one call and makes them durable with one
fsync.

	w, err := wal.Open(dir, wal.Options{})
	...
	// for each Ready rd:
	err = w.Save(wal.Update{HardState: hs, Entries: rd.Entries, Snapshot: snap, MustSync: rd.MustSync})

A WAL is also the Storage the RawNode reads (InitialState, Entries, Term,
FirstIndex, LastIndex, Snapshot), and has MemoryStorage's write methods
(Append, SetHardState, ApplySnapshot, CreateSnapshot, Compact), each one
synced Save, so the storagetest suite runs on both.

# Durability

Save returns nil only after the update was written and, when MustSync is
set or the update holds a snapshot, synced with one fdatasync of the active
segment (a snapshot also costs the sync of its file and of the directory).
The update is one write: its record is built in a reused buffer, except
that entry payloads of 4 KiB or more are gathered from the entries where
they lie (a vectored write, vfs.VectorWriterAt) instead of copied. The
record's checksum (CRC-32C, internal/crc32c) is taken while it is encoded,
and the record starts in memory at
the alignment of its file offset, which the kernel copies fastest. A synced
Save of 32 KiB or more starts the device on its record before the
fdatasync (vfs.WritebackStarter: sync_file_range(2) on Linux, a hint that
makes nothing durable) and meanwhile lays its entries out in the cache
where no reader looks; they become visible once the sync returns, as
always.
Once Save returned nil for a synced update, that update and every earlier
one survive a crash. A Save without MustSync is written but may be lost by a
crash until a later synced Save (raft only leaves MustSync unset when losing
the update is harmless). CreateSnapshot and Compact always sync.

After any failed write, fsync, or file operation the WAL stops: that call
and every later one (reads included) return the error. A failed fsync may
have dropped the data it was flushing while the page cache still shows it,
and a retried fsync would report success; so the WAL never retries. Reopen
it (recovery reads what is really on disk) or replace the node.

# Concurrency

One WAL at a time owns a directory: Open takes an exclusive lock on its
LOCK file (flock(2), which the kernel releases when the process dies, so a
crash leaves no stale lock) and Close releases it. A second Open, from
another process or the same one, and Repair are refused with an error that
names the directory and wraps vfs.ErrLocked. (Where flock is missing, as on
Windows, the lock only excludes other Opens in the same process.)

All methods are safe for concurrent use. Writers are serialized. Readers
(the raft.Storage methods) never wait for a Save's disk I/O: they see the
state as of the last Save that returned, never a Save in progress, so an
entry is visible to readers only once it is durable (or, for a Save without
MustSync, once written). Entries passed to Save are kept and handed to
readers as they are: neither side may modify them.

# Memory

The WAL keeps in memory the hard state, the latest snapshot, the most recent
entries (Options.CacheBytes, 8 MiB by default, of encoded entries, plus a
pointer for each, in blocks of up to 1,024 entries or a sixteenth of the
limit that are filled by successive Saves and dropped whole, oldest first),
the term of every entry as runs of equal terms, and the disk location of
each batch. Older entries are read back from disk (checksummed again) when
asked for. Entries returns a slice of a block when the range lies in one
and a copy otherwise. Memory therefore
grows with the number of Saves and term changes in the log, not with the
size of the entries: 24 bytes per Save (plus slice growth), so a million
entries written one per Save cost about 30 MB, written 128 per Save well
under 1 MB, besides the cache.

# On-disk format

A directory holds segment files 0000000000000001.wal, 0000000000000002.wal,
... (the number in hex), snapshot files snap-<index>-<term>.snap (hex),
transient *.tmp files (removed by Open), and the lock file LOCK. Each segment is created at its
full size (Options.SegmentSize, 64 MiB by default, or larger to hold a
bigger update) by writing zeros under a temporary name, syncing, renaming
and syncing the directory, ahead of use in the background. Overwriting
zeros that are already on disk needs no file metadata update, so the
fdatasync of a Save flushes the data alone (fallocate alone would leave
unwritten extents that each sync converts).

A segment is a sequence of records, each at an 8-byte aligned offset:

	crc32c  uint32 LE   Castagnoli CRC of the rest of the header and the payload
	length  uint32 LE   payload length (> 0)
	type    uint8       1: segment header, 2: batch
	seq     uint56 LE   record number, +1 per record across all segments
	payload             length bytes, then zero padding to 8 bytes

followed by zeros. Each segment starts with a segment header record whose
payload is the magic "tkrwal\x00\x01", the segment number and a checkpoint
of the state before the segment (hard state, log start, latest snapshot),
so older segments can be deleted. Each Save is one batch record: the number
of the last record known synced when it was written (the durable mark),
then items applied in order: a snapshot reference (the snapshot file for an
index and term becomes the latest snapshot; from ApplySnapshot or Save, the
log also restarts after it), a compaction (index, term), entries (first
index, count, then each entry's term and raftpb.Entry encoding; stored
entries from the first index on are replaced) and a raftpb.HardState.
Snapshot files hold crc32c, length and a raftpb.Snapshot. A segment is
synced before the next one is written. Snapshot files are written under a
temporary name, synced, renamed and the directory synced before the record
that refers to them; older snapshot files and the segments before the one
holding the first live entry are deleted (then the directory synced) once a
synced record no longer needs them.

# Recovery

Open reads every segment and checks every record. Its rules:

  - Records must follow each other with consecutive numbers. The end of the
    log is the first all-zero header in the last segment that holds any
    data; segments after it were prepared but never written and are
    removed.
  - A torn tail is cut automatically: damage in the last segment (a bad
    checksum, an impossible length, an incomplete record, or non-zero bytes
    after the end) that no later valid record proves durable is what a
    crash during a write leaves. The segment is zeroed from the damage on
    (and synced), leaving the log at the last whole Save; a Save torn this
    way had not returned, or had not been synced.
  - Everything else is corruption and Open returns a *CorruptionError
    naming the file and offset, never silently dropping or applying data:
    damage in any segment but the last (each was synced before the next was
    written), a missing segment or header, a damaged snapshot file, or
    damage in the last segment followed by a valid batch record whose
    durable mark shows the damaged record had been synced before it.
  - After recovery the tail segment is synced once, so data that survived
    only in the page cache (a process crash) is durable before it counts.

Repair cuts the log at its first damage on purpose and keeps a copy of what
it cut; see its documentation for what it costs a Raft node. Inspect reads
a log as Open would without changing anything and reports its segments, the
state it holds, a torn tail Open would cut and the corruption Open would
refuse.

# Operator tool

The tickraft-wal command (go install github.com/tickraft/raft/cmd/tickraft-wal)
runs these for operators:

	tickraft-wal inspect [-json] DIR  segments, entries, hard state, snapshot, damage (file and offset)
	tickraft-wal verify DIR           exit status 1 if Open would refuse the log
	tickraft-wal repair -yes DIR      Repair: cut at the first damage, print what was cut and where the copy is

inspect and verify take no lock and write nothing; repair takes the
directory's lock (so not while a node has the log open) and without -yes
only reports.

Options.UnsafeNoSync turns every fsync off: for tests only.
*/
package wal
