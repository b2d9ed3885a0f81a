/*
Package raft is a Raft consensus state machine (the Raft paper and Diego
Ongaro's thesis) that does no I/O of its own. The caller owns the clock,
the disk and the network: it ticks the node, hands it the messages it
receives, and carries out the work the node returns in a Ready. Nothing
inside reads the clock, starts a goroutine or uses global randomness, so a
test replays exactly; randomized election timeouts come from a source seeded
in Config.

# Coming from etcd raft

The API follows etcd raft's RawNode, and package raftpb encodes every type
exactly as etcd raft's raftpb does, so an etcd raft application's persisted
log, hard state and snapshots carry over. The protocol behaviour differs
(lazy commit propagation, the lease-read promise), so a cluster runs one
library on every node. MIGRATING.md in the repository lists every
difference: renamed packages and types, Config zero values, calls that
return errors, logging and status.

# Starting a node

A brand-new cluster bootstraps every founding member with the same peers:

	storage := raft.NewMemoryStorage()
	rn, err := raft.NewRawNode(&raft.Config{ID: 1, Storage: storage, Seed: 1})
	if err != nil { ... }
	err = rn.Bootstrap([]raft.Peer{{ID: 1}, {ID: 2}, {ID: 3}})

A node restarting from its own storage skips Bootstrap (see Restarting a
node). A node joining an existing cluster starts with empty storage and no
Bootstrap; the leader sends it what it needs once a configuration change
adds it.

# Restarting a node

After a crash the application restarts a node from what survived: its
Storage (hard state, snapshot, log) and its state machine. The contract:

  - The state machine comes first. If it is durable, it is as it was when
    the node stopped; if it lived in memory, or it is older than the
    storage's snapshot, the application restores it from
    Storage.Snapshot(). Either way it must hold at least everything up to
    the snapshot's index: the entries before it are compacted and are never
    handed out again.
  - Config.Applied is the index of the last entry the state machine holds
    (for a restored snapshot, the snapshot's index). The node hands out the
    committed entries after Applied again, and only those; applying them
    is the application's usual work, configuration changes included.
  - The node's configuration is that of the entries up to Applied: NewRawNode
    takes the snapshot's configuration from Storage.InitialState and replays
    the configuration changes of the persisted log after the snapshot's
    index (read from Storage.Snapshot(); the log may still hold entries
    the snapshot covers) up to Applied, so
    Storage need not save configurations beyond its snapshot's (and
    InitialState must report the snapshot's, not a later one).
  - Applied below the snapshot's index, or beyond the persisted log's last
    index (the storage lost entries the application applied), is refused
    with an error wrapping ErrInvalidConfig; the node does not start.
    Applied beyond the persisted commit index but within the log is normal
    (a commit-only hard state need not be synced): those entries were
    committed, and the node's commit index starts there.

A brand-new node, and one whose application applied nothing since a
Bootstrap, starts with Applied 0. See the RawNode restart example.

# The Ready loop

The application runs one loop per node:

	for {
		select {
		case <-ticker.C:
			rn.Tick()
		case m := <-received:
			_ = rn.Step(m)
		case data := <-proposals:
			_ = rn.Propose(data)
		}
		for rn.HasReady() {
			rd := rn.Ready()
			// 1. Persist: rd.HardState, rd.Entries, rd.Snapshot
			//    (fsync when rd.MustSync).
			// 2. Send rd.Messages.
			// 3. Apply rd.Snapshot, then rd.CommittedEntries; for
			//    configuration change entries call rn.ApplyConfChange.
			_ = rn.Advance(rd)
		}
	}

# Batching

The node does the expensive part of its work when the application takes a
Ready, not message by message: proposals and acknowledgements stepped
between two Readys only mark appends as owed, and the Ready carries one
append per follower with every new entry (within MaxSizePerMsg and the
inflight limits) and the latest commit index; a follower answers a batch of
appends with one cumulative acknowledgement. An application gets the most
out of this by stepping everything it has queued (messages, proposals,
ticks) before it asks for the next Ready.

A new commit index alone does not make the leader send anything: it goes
to the followers with the next append that carries entries, or with the
next heartbeat when the cluster is idle, so a follower applies up to a
heartbeat interval after the leader. (A follower's ReadIndex answer and a
leader transfer carry it at once, and a commit index that covers a
configuration change goes to every peer at once, a removed one included,
so that membership changes reach every node they affect within a round
trip.) Config.EagerCommitPropagation sends it
at once instead, at the cost of a message, a Ready and an answer per
follower and commit.

Every queue a node keeps is bounded by its Config: messages in flight per
follower (MaxInflightMsgs, default 256; MaxInflightBytes, no limit by
default), committed entries handed out and not applied
(MaxCommittedSizePerReady, default MaxSizePerMsg), reads a leader holds
(MaxPendingReadIndex, default 4096), and the leader's uncommitted entries
(MaxUncommittedEntriesSize). The last has no limit by default: a leader
that cannot commit (a quorum is down) keeps every proposal in memory, so a
production program should set it; proposals beyond it fail with
ErrProposalDropped.

# The persistence contract

A node's answers promise durability: a vote promises the voter will not vote
for anyone else in the term, an append acknowledgement promises the entries
survive a crash. So, in a Ready:

  - HardState, Entries and Snapshot must be durable before the Ready's
    Messages are sent, with one exception: a leader may send its messages
    while its own write is in progress (thesis §10.2.1). The leader counts
    itself toward a quorum only once its write is acknowledged (in Advance,
    or the MsgStorageAppendResp of asynchronous mode).
  - Entries may replace entries already stored at the same index and after:
    storage truncates its tail there before appending.
  - CommittedEntries may include entries of the same Ready's Entries: persist
    first, then apply.
  - MustSync is false when only the commit index changed; a lost commit index
    is recovered from the leader.

Entries and messages are passed by pointer and must not be modified once
handed over: the node shares them between its log, messages and storage.

# Asynchronous storage writes

With Config.AsyncStorageWrites the node does not wait for Advance. Instead a
Ready's Messages include a MsgStorageAppend addressed to LocalAppendThread
(what to persist, with the messages to send once it is durable in its
Responses field) and a MsgStorageApply addressed to LocalApplyThread
(committed entries to apply, with a response). The application persists and
applies on its own goroutines, in order, and then delivers each response:
messages addressed to other nodes go to the network, those addressed to
this node go to RawNode.Step. Advance is not used. Acknowledgements of
persisted entries carry the term of the last entry, so an acknowledgement
for entries that were truncated and rewritten in the meantime is recognized
and ignored.

# Reads

RawNode.ReadIndex(ctx) asks for a linearizable read (thesis §6.4). The
answer is a ReadState{Index, RequestCtx: ctx} in a later Ready: once the
application has applied up to Index, reading its state machine returns a
result that reflects every write committed before the request. With
ReadOnlySafe the leader confirms its leadership with a heartbeat round first;
with ReadOnlyLeaseBased (which requires CheckQuorum) it answers from its
lease, without a message, when a quorum answered a heartbeat round it sent
less than ElectionTick-1 ticks ago, and confirms with a round otherwise.
The lease rests on the voters' promise not to vote for an election timeout
after hearing from the leader (or restarting), and on ticks coming at the
same rate on every node; see ReadOnlyLeaseBased. A new leader holds read requests until it has committed an entry of
its own term. Followers forward requests to the leader; with no known leader
ReadIndex returns ErrNoLeader. A leader holding MaxPendingReadIndex reads
refuses more with ErrReadIndexDropped.

# Membership

Configuration changes are proposed with ProposeConfChange, as a
*raftpb.ConfChange (one node at a time) or a *raftpb.ConfChangeV2 (several
at once through a joint configuration, thesis §4.3). A change the leader
refuses (another is still pending, the joint state does not allow it, the
change is invalid) returns an error wrapping ErrConfChangeRejected and
nothing is appended; the one refusal worth retrying, a change proposed
before the previous one is applied, also wraps ErrConfChangePending. A committed change takes effect when the application
calls ApplyConfChange while applying its entry: decode the entry with
raftpb.UnmarshalConfChange, which handles both versions (Bootstrap writes
v1 entries, so even an application that proposes only v2 changes meets
them), and keep the returned ConfState with the application's state for
its snapshots. A joint configuration
entered with the Auto or JointImplicit transition is left automatically:
the leader proposes the leaving change once the entering one is applied.
Learners receive the log but do not vote in elections or count toward
commits; they never campaign, but they answer vote requests (they may not
know yet that they were promoted).

A removed node must never lead again, yet it may not hear of its removal
at once (the leader tells it within a round trip, but messages are
delayed). A voter therefore refuses its vote and pre-vote to a candidate
it knows was removed: a configuration change it applied removed the
candidate and none since added it back (node IDs must not be reused), or
the candidate is absent from the configuration it applied (neither voter
nor learner) and the candidate's log ends at or before its applied index.
Absence alone is no proof: a candidate added by a change this voter has
not applied yet has that change in its log, past the voter's applied
index, and gets the vote, since it may be needed; so does a learner, which
may have been promoted. A voter that restarted or restored a snapshot knows
only the removals it replays. A node whose removal is in its own log but
not known to be committed keeps campaigning (thesis §4.2.2: it may be
needed to elect a leader). So a removed node can still win in one case:
when the only node that knows its removal committed is the old leader, and
the voters it asks hold the removal entry but not its commit.

A node added to the cluster starts with an empty log and catches up from
the leader's log or, if the entries it needs were compacted, from the
storage's snapshot. A snapshot taken before the node joined does not list
it, and the node would refuse it, so the leader holds it back (and logs
that it does) until the application takes a newer one: an application that
compacts its log should snapshot after applying a configuration change.

# Failures

Invalid input is an error, never a crash: NewRawNode validates its Config,
Step rejects local message types (ErrStepLocalMsg), responses from unknown
peers (ErrStepPeerNotFound) and messages inconsistent with the log or
addressed to another node (ErrInvalidMessage, counted in
BasicStatus.DroppedMessages). A message stepped twice is a duplicate, never
a corruption: the node writes into nothing it is handed, so a proposal
stepped twice is proposed twice. Misuse of the API returns an error and
changes nothing: Advance without a Ready, an unknown SnapshotStatus
(ErrInvalidCall); a nil or malformed configuration change, or one that was
not handed out in CommittedEntries or was applied already
(ErrConfChangeRejected); Bootstrap without the node itself
(ErrInvalidConfig). A term from outside the configuration more than 2^40
ahead of the node's is refused as corrupt. A Storage error
stops the node, except ErrCompacted from Entries and Term (the log was
compacted meanwhile) and ErrSnapshotTemporarilyUnavailable from Snapshot
(asked again later); ErrUnavailable from storage means it lost entries it
acknowledged, and stops the node too. So does a follower that learns from
its leader that its storage lost entries it had acknowledged (the error
names them). From then on the node neither votes, campaigns nor appends,
and its API calls return an error wrapping ErrStorageFailed; it reports
itself as a follower with no leader. A panic is kept for broken internal
invariants only: its value is an error naming the invariant and the
values that broke it.

# Logging

Each node logs through its Config.Logger (log/slog), with stable attribute
keys: raft_id, term, role, leader, from, to, msg_type, index, commit,
applied, snapshot_index, error and a few more. Nothing is logged through a
global logger.
*/
package raft
