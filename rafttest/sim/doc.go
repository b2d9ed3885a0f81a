/*
Package sim is a seeded, deterministic fault simulator for the raft
package. It runs a cluster of RawNodes through thousands of random steps
(faults included) and checks Raft's safety properties after every step,
and liveness at the end. The seed determines everything: a failing seed
replays exactly.

# The model

A run starts from a seed. The seed chooses the run's options (Options):
3, 5 or 7 founding voters; PreVote, CheckQuorum, AsyncStorageWrites,
StepDownOnRemoval, EagerCommitPropagation and DisableProposalForwarding on
or off; ReadOnlySafe or (with CheckQuorum) ReadOnlyLeaseBased reads; the
election and heartbeat timeouts; sometimes small MaxSizePerMsg,
MaxCommittedSizePerReady, MaxInflightMsgs, MaxInflightBytes and
MaxUncommittedEntriesSize; how long a removed node keeps running; how
often faults strike (Chaos) and whether crashes favour the leader. A
quarter of the seeds run long logs (LongLog): bursts of proposals, paged
appends and Readies, frequent compaction and snapshots, hundreds to
thousands of entries committed. Then math/rand/v2, seeded from the seed,
makes every choice. Everything runs in one goroutine; time
is a simulated clock that advances only when a node is ticked.

Each node is a RawNode over a MemoryStorage that stands for its disk. Its
state machine is durable too: it records, for every index it applied, the
entry's term and a fingerprint of its contents (each proposal carries a
unique id), updated as each entry is applied. Everything else a node holds
is lost when it crashes: the RawNode, the work queued for its storage
threads, the messages it has not sent yet. A restart builds a new RawNode
from the storage with Config.Applied set to what the state machine holds
(the state machine first restores a snapshot saved to storage but not yet
applied, and records itself as a snapshot if it applied configuration
changes since the storage's snapshot).

The application follows the Ready contract. In synchronous mode it
persists a Ready's snapshot, entries and hard state, sends its messages,
applies its snapshot and committed entries (ApplyConfChange for
configuration changes, decoded with raftpb.UnmarshalConfChange) and calls
Advance. A crash can strike in the middle of a Ready: before the write (a
leader may have sent its messages already), after it, after the sends, or
part way through applying. In asynchronous mode a Ready's MsgStorageAppend
and MsgStorageApply become work items of the node's append and apply
threads, done in order by later random steps, each followed by the
delivery of its responses; a crash loses the items not done. After a
configuration change the state machine records a snapshot (without
compacting), because a leader only sends a snapshot whose configuration
includes the recipient. The transport reports every snapshot it delivers
or loses (ReportSnapshot) and, now and then, a lost message
(ReportUnreachable).

# Steps

After the founding members bootstrap, each step performs one random
action and hands out and handles every Ready that results:

  - tick one node, or all of them (always all with lease-based reads,
    which assume clocks that advance together);
  - deliver a random message in flight (so messages are reordered and
    delayed), sometimes several to the same node before its Ready;
  - do a node's next piece of asynchronous storage work;
  - propose a new payload on a random node; start a ReadIndex on one;
  - drop or duplicate a message in flight (a forwarded proposal is
    duplicated too, half the time as the same message handed over twice,
    as an in-process transport sharing pointers would; each copy may be
    committed once more);
  - partition the nodes in two, cut one link one way, isolate the leader,
    or heal the network;
  - crash a node (in synchronous mode, sometimes inside its next Ready),
    or restart a crashed one;
  - snapshot a node's state machine at its applied index and compact its
    log up to there (or a little less);
  - propose a configuration change on the leader: add a learner or a voter
    (a new, empty node, created when the first message reaches it),
    promote a learner, demote or remove a voter, remove a learner, replace
    a voter through a joint configuration (auto-leave, implicit or
    explicit, then left with an empty change); between 3 and 7 voters;
  - ask for a leader transfer.

Runs alternate between stormy and calm periods. A node removed by a
committed configuration change keeps running for Options.RemovedLinger
steps after its removal was first applied (at once in the liveness
phase), then is shut down for good, as an operator would; its disk is
kept for the checks.

# The checks

The checkers judge the library by what they see, not by what it says.
Every node is observed right after each call that can change it (a
message stepped, a tick, an Advance, a configuration change applied), not
only at the end of a step that may do many things; what is committed is
derived from acknowledgements checked against the disks (ghost.go), not
from commit indexes. After every such call, or step (each checker is a
documented function in checks.go, ghost.go or removal.go):

 1. Election safety (checkElectionSafety): at most one leader per term,
    over the whole run. A leadership is recorded the moment it starts:
    when a node is seen in the leader role, or sends an append, heartbeat
    or snapshot of the term.
 2. Commitment (ghost.go, noteCommitIndex, checkClaim): an entry is
    committed once a quorum of the configuration of the leader of its
    term acknowledged it in that term (MsgAppResp, or the leader's own
    write) while their disks held it. A commit index, an applied entry or
    a restored snapshot beyond that is a premature commit, caught when
    the node makes the claim.
 3. Log matching (checkLogMatching): as entries land in any node's
    storage, two entries with the same index and term must have the same
    contents and follow an entry of the same term.
 4. Leader completeness (checkLeaderCompleteness): a committed entry
    is in the log of every leader of a later term than the one it was
    committed in: its storage plus the writes queued for it, unless
    compacted.
 5. State machine safety (checkApplied, checkClaim, checkProposalOnce,
    checkNodeProgress, restoreApp): every node applies, or holds as
    committed, the committed entry at an index; a node never applies an
    index twice or skips one; no proposal lands at more indexes than
    copies of it were made; raft's applied index never goes back and
    never passes the state machine's; a state machine never goes back,
    and a restored snapshot agrees with what was applied.
 6. Durability (checkDurability): every committed entry stays on the disks
    (log or snapshot) of enough voters of the latest configuration that
    the others cannot elect a leader without it. It runs after every
    crash and every write that replaces entries, the steps that lose
    state, and at the end.
 7. Removed nodes (removal.go): a node never wins an election after its
    removal committed, and never starts campaigning once its commit index
    covers its removal.
 8. Reads (checkReadState, checkReadsOnApply): a ReadIndex answer is at
    least the highest commit index any node knew when the read was
    issued, and once the node applied that far its state holds the last
    write applied anywhere before the issue. Reads served from a leader's
    lease are checked the same way; TestLeaseReads runs every seed with
    lease-based reads.
 9. Liveness (liveness): at the end, faults stop, the network heals and
    every node restarts; within 30 election timeouts a leader must be
    elected and a new proposal applied by every voter.

A node that panics, stops on a storage error, refuses its own storage
responses or a message it should accept, restarts in another
configuration than the one its state machine applied (checkRestartConf),
or otherwise breaks the contract is reported too (checker "node").

A failure reports the seed, the checker, what it saw, the options, the
command that replays it, and the last events of the run (the trace, with
messages described by raftpb.DescribeMessage).

# Running

go test ./rafttest/sim/ runs TestSimulation over a few hundred seeds on
GOMAXPROCS workers (fewer under -race and -short). Flags:

	-sim.seeds=N   run N seeds (make sim SEEDS=N)
	-sim.first=N   start at seed N (default 1)
	-sim.steps=N   steps per seed (default 1500)
	-sim.seed=N    the seed TestReplay replays (add -sim.v to print every event)
	-sim.trace=N   events shown with a failure (default 50)
	-sim.dupproposals=false  do not duplicate forwarded proposals

# Proving the checkers

TestCheckersCatchAppBugs injects bugs into the simulated application (a
dropped hard-state write, an entry applied twice) and checks that the
right checker catches each within a bounded number of seeds. With the
raftbugs build tag, TestCheckersCatchCoreBugs does the same with bugs
planted in the raft core through internal/bugs: committing an entry of an
older term by counting replicas (Figure 8 of the Raft paper) and a leader
counting its own entries before they are durable (premature commit), a
follower accepting an append whose previous entry has another term (log
matching), a follower cutting its log after a stale append (durability),
a node voting twice in a term (election safety), a removed node
campaigning (removed nodes), and followers answering reads from their own
commit index. TestElectionSafetyWithinOneStep scripts a leader that wins
and crashes within one step, followed by a second leader of its term.
*/
package sim
