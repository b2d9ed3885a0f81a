/*
Package replica runs a member of a replicated state machine: it owns the
raft loop, the disk and the network, so an application provides only a
state machine, a log store and a transport, and calls Propose, ReadIndex
and the membership methods.

# Starting

	r, err := replica.Start(replica.Config{ID: 1, Bootstrap: members},
		replica.WAL(w),       // or replica.Memory(raft.NewMemoryStorage())
		myStateMachine,       // implements replica.StateMachine
		tcpTransport)         // a transport.Transport

A founding member starts with Config.Bootstrap, the same list on every
founder; members carry the addresses the transport reaches them at. A node
that joins an existing cluster starts with an empty log store, no
Bootstrap and, in Config.Join, the addresses of some members (so it can
answer the leader before it knows the configuration), and waits: a member calls AddLearner (or ChangeMembership) with
its ID and address, and the leader sends it the log or a snapshot. Its
peers' addresses come with it, from the configuration changes in the log
(their context holds the addresses) and from the snapshot. A node that
restarts passes its log store back: the state machine is restored from
the latest snapshot unless its own AppliedIndex is as recent, and the
entries after are applied again, none twice. The example shows a
three-node replicated counter from zero.

# Writes

Propose(ctx, cmd) returns the state machine's result for cmd once it is
applied on this replica. It fails as soon as the outcome is known:
*NotLeaderError on a follower (it names the leader and its address; with
Config.Forward the replica forwards the command itself and returns the
leader's answer or error), ErrProposalLost when an entry of a later term
took its place in the log (never applied: retry), ErrProposalDropped when
raft refused it, ErrStopped when the replica stops. When ctx ends first
the command may still be applied; applications that retry such commands
deduplicate them in the state machine (client sessions).

Every stage batches: callers queue proposals that the raft loop steps
together before it takes a Ready; one Ready's writes are saved with one
sync, several Readys' writes that piled up during a sync with one more;
committed entries reach the state machine in batches. The raft node runs
in AsyncStorageWrites mode: the leader sends its appends to the followers
while its own write is in progress (Raft thesis §10.2.1), followers answer
only once their write is durable, and the state machine applies on its own
goroutine, off the raft loop.

# Reads

ReadIndex(ctx) is a linearizable read barrier: it returns once this
replica (leader or follower) has applied everything committed before the
call; reading the state machine then is linearizable. Callers that arrive
together share one round of messages. Config.ReadMode = ReadLeaseBased
answers from the leader's lease without a round (see
raft.ReadOnlyLeaseBased for what it assumes). Read(ctx, Stale) returns at
once and reads whatever was applied.

# Membership

AddLearner(ctx, id, addr, waitCaughtUp) adds a non-voting member.
ChangeMembership(ctx, voters...) sets the voters: a new voter is added as
a learner first, waited for until it caught up (Config.CatchUpLag), then
promoted; when more than one voter changes the change goes through a joint
configuration, left automatically before it returns. RemoveNode removes a
member, TransferLeadership hands leadership over. A leader removed from
the configuration steps down, and a replica that applies its own removal
closes Removed, so that the application stops it. The transport learns of address changes as configuration changes are applied;
a removed member is dropped from it two election timeouts later, so that the
commit telling it of its removal still reaches it.

# Snapshots

Every Config.SnapshotEntries applied entries (or Config.SnapshotBytes applied
bytes), and after every configuration
change (a new member can only be sent a snapshot that lists it), the apply
goroutine takes a point-in-time view of the state machine (Snapshot) and a
writer goroutine streams it into the SnapshotStore (MemorySnapshots, or
DirSnapshots on disk), while applying goes on. The log store then records
the snapshot and drops the log up to Config.CompactionTail entries before
it. A follower that needs a snapshot receives it through the transport's
snapshot stream and the state machine restores from it (Restore).

# Failures

A failed log store write or sync, a failed state machine Apply or Restore,
or a raft storage failure stops the replica: it never continues after an
unknown write outcome. Err reports the cause and Done is closed; calls
return ErrStopped. Stop(ctx) stops cleanly: new proposals are refused,
those in flight get their outcome (until ctx ends), then the goroutines
end and the transport closes.

# Testing

The raft clock ticks from Config.Clock: a ManualClock ticks only when the test
calls Tick, so elections and timeouts happen when the test says. With the
in-memory transport (transport.NewMemNetwork, with its fault injection) and
MemoryStorage, a whole cluster runs in one test process.

# Observability

Metrics returns counters and gauges whose comments give stable Prometheus
names; WaitFor(ctx, cond) waits for a condition on them. Each replica logs
through Config.Logger with a replica attribute.
*/
package replica
