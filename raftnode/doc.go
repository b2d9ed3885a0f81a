/*
Package raftnode runs a raft.RawNode on a goroutine of its own and offers
it through channels, the shape of etcd raft's Node. Its one job is to let
an application written against etcd raft's Node move to tickraft with the
same loop:

	n, err := raftnode.StartNode(cfg, peers) // or raftnode.RestartNode(cfg)
	if err != nil { ... }
	defer n.Stop()
	for {
		select {
		case <-ticker.C:
			n.Tick()
		case rd := <-n.Ready():
			// 1. Persist rd.HardState, rd.Entries, rd.Snapshot (fsync when rd.MustSync).
			// 2. Send rd.Messages.
			// 3. Apply rd.Snapshot and rd.CommittedEntries; for configuration
			//    change entries call n.ApplyConfChange.
			if err := n.Advance(); err != nil { ... }
		}
	}

Messages received from peers go to Step, proposals to Propose and
ProposeConfChange, from any goroutine. The Ready contract (what to persist
before sending, what MustSync means, AsyncStorageWrites) is the core
package's: read package raft's documentation.

# How it maps to etcd raft's Node

One goroutine owns the RawNode. Every method hands its request to that
goroutine over a channel and, except Tick, waits for the result, so the
caller learns what RawNode said:

  - Propose returns RawNode's error, as etcd raft's does:
    raft.ErrProposalDropped for a proposal the node cannot take (a follower
    with DisableProposalForwarding, a leader transfer in progress, the
    uncommitted-size limit, a leader removed from the configuration). A nil
    error means only that the node accepted the proposal, not that it will
    commit: watch the committed entries.
  - ProposeConfChange waits for RawNode's verdict too: an error wrapping
    raft.ErrConfChangeRejected for a change the leader refuses (etcd raft's
    returns once the change is queued, and its leader appends a refused
    change as an empty entry). A change proposed on a follower is
    forwarded, and the leader's refusal does not come back.
  - While no leader is known, proposals wait (until the context ends), as in
    etcd raft.
  - Step returns RawNode's error: raft.ErrStepLocalMsg for a message type
    that never crosses the network (etcd raft ignores it silently),
    raft.ErrStepPeerNotFound, raft.ErrInvalidMessage. In AsyncStorageWrites
    mode the storage responses are stepped here too.
  - ReadIndex returns raft.ErrNoLeader when no leader is known (etcd raft
    drops the request); TransferLeadership, ReportUnreachable and
    ReportSnapshot return errors (etcd raft's return nothing).
  - Advance returns raft.ErrAsyncAdvance in AsyncStorageWrites mode (etcd
    raft's Node must not be called then), ErrNoReady when no Ready is
    outstanding (etcd raft's blocks until Stop), and the storage failure
    once RawNode stopped on one.
  - ApplyConfChange returns (*ConfState, error): a change that cannot be
    applied is an error and leaves the configuration as it was.
  - StartNode and RestartNode return an error for an invalid configuration
    or failing storage (etcd raft panics), and StartNode refuses storage
    that already holds state (etcd raft logs and carries on).
  - Every call after Stop returns ErrStopped (Status returns the status the
    node had when it stopped), and a call whose context ends first returns
    the context's error.
  - Tick never blocks: ticks are buffered, and a tick that finds the buffer
    full is dropped and logged, as etcd raft does.

The node takes a Ready from RawNode only when the previous one was received
(and, in synchronous mode, advanced), after stepping what is already queued
(up to a bound), so a busy node hands out larger Readys.
*/
package raftnode
