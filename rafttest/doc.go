/*
Package rafttest is an executable specification of tickraft.

It provides InteractionEnv, a harness that runs a cluster of RawNodes, each
on its own MemoryStorage, inside one goroutine and without a clock: nothing
happens unless a command says so. A datadriven script drives the cluster one
step at a time (tick this node, hand that one its messages, process a
Ready) and the harness prints what each step produced. The scripts in
testdata/ are the specification: each shows one behaviour of the library,
opens with comments explaining what it demonstrates and why it matters, and
records the exact output the library must produce. TestInteraction replays
them all; run it with -rewrite to regenerate the expected output after a
deliberate change, then read the diff.

# The model

Every node is a RawNode plus what an application would keep around it:

  - a MemoryStorage holding exactly what the node made durable;
  - a state machine: the data of the normal entries it applied, and the
    history of configurations, from which snapshots are built;
  - in AsyncStorageWrites mode, the queues of its append thread and apply
    thread (the MsgStorageAppend and MsgStorageApply messages not yet
    handled).

Messages to other nodes go to a shared network: a queue, in sending order.
A message leaves the queue only when delivered to (or dropped at) its
recipient. Partitions are checked at delivery, so a message sent before a
partition and delivered after it is lost, as on a real network.

In the default (synchronous) mode, handling a Ready persists its snapshot,
entries and hard state, puts its messages on the network, applies its
snapshot and committed entries (calling ApplyConfChange for configuration
changes) and calls Advance. In AsyncStorageWrites mode it only sorts the
Ready's messages: those for the local threads go to the node's queues,
the rest to the network; the threads run when told to.

Nothing a node did not persist survives a restart: its volatile state, its
unprocessed Ready, the queues of its local threads and the messages
addressed to it are lost; messages it already sent stay on the network. The
state machine is rebuilt from the snapshot in storage and the committed
entries are applied again.

Output is built only from the raftpb Describe functions and the harness's
own rendering of Ready, Status and storage, never from log records, so
rewording a log line never changes a golden file. Nodes log through
InteractionOpts.Logger, which discards everything unless set.

Everything is deterministic: each node's randomized election timeouts come
from its Seed (by default its ID), messages are delivered in sending order,
and nodes are always visited in ID order.

# Commands

Node IDs are given as bare numbers; commands that take several act on each
in turn, and most act on every node when given none. Options are key=value.

	add-nodes 3 voters=(1,2,3) [learners=(4)] [index=1] [bootstrap] [options...]
	    Adds nodes with the next free IDs. With voters or learners, each
	    node starts from a snapshot at index (default 1, term 1) holding that
	    configuration; with bootstrap, through RawNode.Bootstrap with the
	    voters instead; with neither, empty (a node that joins later).
	    Options map to Config fields: prevote, checkquorum,
	    read-only=safe|lease-based, async-storage-writes,
	    max-inflight-msgs=N, max-inflight-bytes=N, max-size-per-msg=N,
	    max-committed-size-per-ready=N, max-uncommitted-size=N,
	    step-down-on-removal, disable-conf-change-validation,
	    disable-proposal-forwarding, seed=N, election-tick=N,
	    heartbeat-tick=N, eager-commit (EagerCommitPropagation). A bare
	    flag means true. Like Config, the harness defaults to lazy commit
	    propagation: a follower learns a new commit index with the next
	    append or heartbeat. Scenarios about eager propagation say
	    eager-commit.
	campaign 1                        RawNode.Campaign
	propose 1 foo [bar...]            one proposal per datum
	propose-conf-change 1 [v1] [transition=auto|implicit|explicit]
	v2 l3 r4                          the changes, in the input block
	tick 1 [count=N]                  N single ticks (default 1)
	tick-heartbeat 1                  HeartbeatTick ticks
	tick-election 1                   until the node times out (see below)
	deliver-msgs [2 3] [type=MsgApp] [from=1] [drop]
	process-ready [1 2]
	process-append-thread [1] [count=N]
	process-apply-thread [1] [count=N]
	stabilize [1 2 3]                 repeat the three above until quiet
	read-index 1 ctx
	transfer-leadership from=1 to=3
	forget-leader 2
	report-unreachable 1 2            node 1 could not reach node 2
	report-snapshot 1 3 [failed]      node 1's snapshot to 3 was delivered
	compact 1 [index=N]               snapshot at N (default: applied)
	send-snapshot 1 3                 node 1's latest snapshot, to 3
	restart 2                         crash and restart from storage
	partition 1 [2] [| 3 ...]         sides that cannot talk
	heal                              remove the partition
	raft-log 1                        what node 1 persisted
	raft-state                        every node's role and indexes
	status 1                          node 1's Status, progress included
	applied 1                         node 1's state machine

tick-election: a leader ticks ElectionTick times, which runs exactly one
check-quorum round. Any other node ticks until it starts an election (or a
pre-election), up to 2*ElectionTick-1 ticks, the longest randomized timeout;
a node that cannot campaign (a learner, say) just ticks that long. The
number of ticks is not printed, so golden files do not depend on the random
draws. The node must have no pending Ready, since a new one is how the
harness sees that it campaigned. There is no command to set the randomized
timeout: the public API does not expose it (a Config.Rand built for the
purpose could force it, but then Seed would no longer decide it).

# Output

	> 1 handling Ready (MustSync)   a Ready, with the sections it has:
	  SoftState, HardState, Snapshot, Entries, Messages, CommittedEntries,
	  ReadStates; "(MustSync)" when its writes need an fsync
	  2/5 conf change applied: ...  the ConfState ApplyConfChange returned
	> 2 receiving messages          a delivery; lost messages are marked
	  dropped, dropped (partition) or dropped (no such node)
	> 1 processing append thread    work of the local threads (async mode)
	error: ...                      an error returned by the library

Entries, messages, hard states, snapshots and configurations are rendered
by the raftpb Describe functions; in messages, AppendThread and ApplyThread
name the local threads of AsyncStorageWrites mode, and the responses a
storage message carries are listed under it. A command with nothing to say
prints "ok".
*/
package rafttest
