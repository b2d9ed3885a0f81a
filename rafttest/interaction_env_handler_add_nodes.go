package rafttest

import (
	"fmt"
	"log/slog"
	"strconv"
	"testing"

	"github.com/cockroachdb/datadriven"

	raft "github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// handleAddNodes adds nodes with the next free IDs. Example:
//
//	add-nodes 3 voters=(1,2,3) index=1 prevote checkquorum
//
// adds nodes 1, 2 and 3, each starting from a snapshot at index 1 (term 1)
// whose configuration has voters 1, 2 and 3, with PreVote and CheckQuorum.
// With bootstrap instead of a snapshot the nodes call RawNode.Bootstrap with
// the voters; with neither voters nor learners they start empty, as a node
// does that joins an existing cluster. See the package documentation for
// the Config options.
func (env *InteractionEnv) handleAddNodes(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d, "voters", "learners", "index", "bootstrap", "prevote", "checkquorum", "read-only",
		"async-storage-writes", "max-inflight-msgs", "max-inflight-bytes", "max-size-per-msg",
		"max-committed-size-per-ready", "max-uncommitted-size", "step-down-on-removal",
		"disable-conf-change-validation", "disable-proposal-forwarding", "seed", "election-tick",
		"heartbeat-tick", "eager-commit")
	pos := positional(d, "bootstrap", "prevote", "checkquorum", "async-storage-writes", "step-down-on-removal",
		"disable-conf-change-validation", "disable-proposal-forwarding", "eager-commit")
	if len(pos) != 1 {
		d.Fatalf(t, "add-nodes takes the number of nodes, then options")
	}
	n, err := strconv.Atoi(pos[0])
	if err != nil || n <= 0 {
		d.Fatalf(t, "add-nodes: %q is not a positive count", pos[0])
	}

	opts := AddNodesOpts{
		Voters:    idList(t, d, "voters"),
		Learners:  idList(t, d, "learners"),
		Index:     uintArg(t, d, "index", 1),
		Bootstrap: boolArg(t, d, "bootstrap"),
	}
	cfg := raft.Config{
		PreVote:                     boolArg(t, d, "prevote"),
		CheckQuorum:                 boolArg(t, d, "checkquorum"),
		AsyncStorageWrites:          boolArg(t, d, "async-storage-writes"),
		MaxInflightMsgs:             int(uintArg(t, d, "max-inflight-msgs", 0)),
		MaxInflightBytes:            uintArg(t, d, "max-inflight-bytes", 0),
		MaxSizePerMsg:               uintArg(t, d, "max-size-per-msg", 0),
		MaxCommittedSizePerReady:    uintArg(t, d, "max-committed-size-per-ready", 0),
		MaxUncommittedEntriesSize:   uintArg(t, d, "max-uncommitted-size", 0),
		StepDownOnRemoval:           boolArg(t, d, "step-down-on-removal"),
		DisableConfChangeValidation: boolArg(t, d, "disable-conf-change-validation"),
		DisableProposalForwarding:   boolArg(t, d, "disable-proposal-forwarding"),
		ElectionTick:                int(uintArg(t, d, "election-tick", 0)),
		HeartbeatTick:               int(uintArg(t, d, "heartbeat-tick", 0)),
		EagerCommitPropagation:      boolArg(t, d, "eager-commit"),
	}
	if d.HasArg("read-only") {
		var mode string
		d.ScanArgs(t, "read-only", &mode)
		switch mode {
		case "safe":
			cfg.ReadOnlyOption = raft.ReadOnlySafe
		case "lease-based":
			cfg.ReadOnlyOption = raft.ReadOnlyLeaseBased
		default:
			d.Fatalf(t, "read-only must be safe or lease-based, not %q", mode)
		}
	}
	if d.HasArg("seed") {
		seed := uintArg(t, d, "seed", 0)
		opts.Seed = &seed
	}
	if opts.Bootstrap && len(opts.Learners) > 0 {
		d.Fatalf(t, "bootstrap adds voters only; start from a snapshot to have learners")
	}
	return env.AddNodes(n, cfg, opts)
}

// AddNodesOpts says how AddNodes starts its nodes.
type AddNodesOpts struct {
	// Voters and Learners are the initial configuration. When both are
	// empty the nodes start with empty storage.
	Voters, Learners []uint64
	// Index is the index of the starting snapshot (term 1), when the nodes
	// do not bootstrap.
	Index uint64
	// Bootstrap makes the nodes call RawNode.Bootstrap with the voters
	// instead of starting from a snapshot.
	Bootstrap bool
	// Seed, when set, is every new node's Seed; by default a node's seed is
	// its ID.
	Seed *uint64
}

// AddNodes adds n nodes with the next free IDs, all with a copy of cfg
// (ID, Storage, Seed, Applied and Logger are filled in).
func (env *InteractionEnv) AddNodes(n int, cfg raft.Config, opts AddNodesOpts) error {
	for range n {
		id := uint64(len(env.Nodes) + 1)
		st := raft.NewMemoryStorage()
		c := cfg
		c.ID = id
		c.Storage = st
		c.Seed = id
		if opts.Seed != nil {
			c.Seed = *opts.Seed
		}
		c.Logger = env.Opts.Logger
		if c.Logger == nil {
			c.Logger = slog.New(slog.DiscardHandler)
		}
		nd := &Node{ID: id, Storage: st}

		var start string
		switch {
		case opts.Bootstrap:
			start = fmt.Sprintf("bootstrapped with voters %v", opts.Voters)
		case len(opts.Voters) > 0 || len(opts.Learners) > 0:
			if opts.Index == 0 {
				return fmt.Errorf("rafttest: the starting snapshot needs an index above 0")
			}
			snap := &pb.Snapshot{Metadata: &pb.SnapshotMetadata{
				Index:     opts.Index,
				Term:      1,
				ConfState: &pb.ConfState{Voters: opts.Voters, Learners: opts.Learners},
			}}
			if err := st.ApplySnapshot(snap); err != nil {
				return err
			}
			if err := st.SetHardState(&pb.HardState{Term: 1, Commit: opts.Index}); err != nil {
				return err
			}
			if err := nd.sm.restore(snap); err != nil {
				return err
			}
			c.Applied = opts.Index
			start = "starting from snapshot " + pb.DescribeSnapshot(snap)
		default:
			nd.sm.confs = []confPoint{{cs: &pb.ConfState{}}}
			start = "starting empty"
		}

		rn, err := raft.NewRawNode(&c)
		if err != nil {
			return err
		}
		nd.RawNode = rn
		nd.Config = c
		if opts.Bootstrap {
			peers := make([]raft.Peer, len(opts.Voters))
			for i, v := range opts.Voters {
				peers[i] = raft.Peer{ID: v}
			}
			if err := rn.Bootstrap(peers); err != nil {
				return err
			}
			nd.sm.confs = []confPoint{{cs: &pb.ConfState{}}}
		}
		env.Nodes = append(env.Nodes, nd)
		env.printf("%d: %s\n", id, start)
	}
	return nil
}
