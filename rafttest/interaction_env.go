package rafttest

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	raft "github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// InteractionOpts configures an InteractionEnv.
type InteractionOpts struct {
	// Logger receives the log records of every node. Nil discards them.
	// They never reach the command output.
	Logger *slog.Logger
}

// Node is one member of the simulated cluster: a RawNode and what the
// application around it keeps.
type Node struct {
	*raft.RawNode
	// ID is the node's ID; Nodes[ID-1] in the environment.
	ID uint64
	// Storage holds what the node made durable. It survives a restart.
	Storage *raft.MemoryStorage
	// Config is the configuration the node was created with; a restart
	// builds a new RawNode from a copy of it.
	Config raft.Config
	// AppendWork and ApplyWork are, in AsyncStorageWrites mode, the
	// MsgStorageAppend and MsgStorageApply messages handed out by Readies
	// and not yet processed by the node's append and apply threads.
	AppendWork []*pb.Message
	ApplyWork  []*pb.Message

	sm stateMachine
}

// InteractionEnv is a cluster of nodes driven by datadriven commands. See
// the package documentation for the model and the commands.
type InteractionEnv struct {
	Opts InteractionOpts
	// Nodes holds the node with ID i at index i-1.
	Nodes []*Node
	// Messages is the network: messages sent and not yet delivered or
	// dropped, in sending order.
	Messages []*pb.Message

	// side maps each node named in the current partition to its side; nil
	// when there is no partition. Nodes not named share side -1.
	side map[uint64]int

	out strings.Builder
}

// NewInteractionEnv returns an empty environment. opts may be nil.
func NewInteractionEnv(opts *InteractionOpts) *InteractionEnv {
	env := &InteractionEnv{}
	if opts != nil {
		env.Opts = *opts
	}
	return env
}

// handler runs one command. A returned error is an answer of the library
// (a refused proposal, say) and is printed; misuse of the harness fails the
// test instead.
type handler func(env *InteractionEnv, t *testing.T, d *datadriven.TestData) error

var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"add-nodes":             (*InteractionEnv).handleAddNodes,
		"applied":               (*InteractionEnv).handleApplied,
		"campaign":              (*InteractionEnv).handleCampaign,
		"compact":               (*InteractionEnv).handleCompact,
		"deliver-msgs":          (*InteractionEnv).handleDeliverMsgs,
		"forget-leader":         (*InteractionEnv).handleForgetLeader,
		"heal":                  (*InteractionEnv).handleHeal,
		"partition":             (*InteractionEnv).handlePartition,
		"process-append-thread": (*InteractionEnv).handleProcessAppendThread,
		"process-apply-thread":  (*InteractionEnv).handleProcessApplyThread,
		"process-ready":         (*InteractionEnv).handleProcessReady,
		"propose":               (*InteractionEnv).handlePropose,
		"propose-conf-change":   (*InteractionEnv).handleProposeConfChange,
		"raft-log":              (*InteractionEnv).handleRaftLog,
		"raft-state":            (*InteractionEnv).handleRaftState,
		"read-index":            (*InteractionEnv).handleReadIndex,
		"report-snapshot":       (*InteractionEnv).handleReportSnapshot,
		"report-unreachable":    (*InteractionEnv).handleReportUnreachable,
		"restart":               (*InteractionEnv).handleRestart,
		"send-snapshot":         (*InteractionEnv).handleSendSnapshot,
		"stabilize":             (*InteractionEnv).handleStabilize,
		"status":                (*InteractionEnv).handleStatus,
		"tick":                  (*InteractionEnv).handleTick,
		"tick-election":         (*InteractionEnv).handleTickElection,
		"tick-heartbeat":        (*InteractionEnv).handleTickHeartbeat,
		"transfer-leadership":   (*InteractionEnv).handleTransferLeadership,
	}
}

// Handle runs one datadriven command and returns its output. Use it as the
// callback of datadriven.RunTest.
func (env *InteractionEnv) Handle(t *testing.T, d *datadriven.TestData) string {
	env.out.Reset()
	h, ok := handlers[d.Cmd]
	if !ok {
		d.Fatalf(t, "unknown command %q", d.Cmd)
	}
	if err := h(env, t, d); err != nil {
		env.printf("error: %v\n", err)
	}
	if env.out.Len() == 0 {
		return "ok\n"
	}
	return env.out.String()
}

// printf adds to the output of the current command.
func (env *InteractionEnv) printf(format string, args ...any) {
	fmt.Fprintf(&env.out, format, args...)
}

// node returns the node with the given ID, or an error naming it.
func (env *InteractionEnv) node(id uint64) (*Node, error) {
	if id == 0 || id > uint64(len(env.Nodes)) {
		return nil, fmt.Errorf("rafttest: no node %d (there are %d)", id, len(env.Nodes))
	}
	return env.Nodes[id-1], nil
}

// allIDs returns the IDs of every node, in order.
func (env *InteractionEnv) allIDs() []uint64 {
	ids := make([]uint64, len(env.Nodes))
	for i := range env.Nodes {
		ids[i] = uint64(i + 1)
	}
	return ids
}

// send puts messages on the network.
func (env *InteractionEnv) send(msgs ...*pb.Message) {
	env.Messages = append(env.Messages, msgs...)
}

// --- argument helpers ---

// positional returns the arguments given without a value, in order, except
// the bare flags named. Node IDs, and the data of propose and read-index,
// are given this way.
func positional(d *datadriven.TestData, flags ...string) []string {
	var out []string
	for _, a := range d.CmdArgs {
		if len(a.Vals) == 0 && !slices.Contains(flags, a.Key) {
			out = append(out, a.Key)
		}
	}
	return out
}

// parseID parses a node ID and checks that the node exists.
func (env *InteractionEnv) parseID(t *testing.T, d *datadriven.TestData, s string) uint64 {
	t.Helper()
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		d.Fatalf(t, "%q is not a node ID", s)
	}
	if _, err := env.node(id); err != nil {
		d.Fatalf(t, "%v", err)
	}
	return id
}

// nodeIDs returns the node IDs given as positional arguments, or every
// node's when none is given and all is set.
func (env *InteractionEnv) nodeIDs(t *testing.T, d *datadriven.TestData, all bool, flags ...string) []uint64 {
	t.Helper()
	var ids []uint64
	for _, s := range positional(d, flags...) {
		ids = append(ids, env.parseID(t, d, s))
	}
	if len(ids) == 0 {
		if !all {
			d.Fatalf(t, "%s needs at least one node ID", d.Cmd)
		}
		ids = env.allIDs()
	}
	return ids
}

// oneID returns the single node ID the command takes first, and the
// positional arguments after it.
func (env *InteractionEnv) oneID(t *testing.T, d *datadriven.TestData, flags ...string) (uint64, []string) {
	t.Helper()
	pos := positional(d, flags...)
	if len(pos) == 0 {
		d.Fatalf(t, "%s needs a node ID", d.Cmd)
	}
	return env.parseID(t, d, pos[0]), pos[1:]
}

// twoIDs returns the two node IDs a command takes, as in "send-snapshot 1 3".
func (env *InteractionEnv) twoIDs(t *testing.T, d *datadriven.TestData, flags ...string) (uint64, uint64, []string) {
	t.Helper()
	pos := positional(d, flags...)
	if len(pos) < 2 {
		d.Fatalf(t, "%s needs two node IDs", d.Cmd)
	}
	return env.parseID(t, d, pos[0]), env.parseID(t, d, pos[1]), pos[2:]
}

// boolArg reports whether a boolean option is set: given bare, or =true.
func boolArg(t *testing.T, d *datadriven.TestData, key string) bool {
	t.Helper()
	a, ok := d.Arg(key)
	if !ok {
		return false
	}
	if len(a.Vals) == 0 {
		return true
	}
	b, err := strconv.ParseBool(a.SingleVal(t))
	if err != nil {
		d.Fatalf(t, "%s: %v", key, err)
	}
	return b
}

// uintArg returns the value of a numeric option, or def when absent.
func uintArg(t *testing.T, d *datadriven.TestData, key string, def uint64) uint64 {
	t.Helper()
	if !d.HasArg(key) {
		return def
	}
	var v uint64
	d.ScanArgs(t, key, &v)
	return v
}

// idList returns the IDs of a list option such as voters=(1,2,3); spaces
// also separate IDs, so voters=(1 2 3) works too.
func idList(t *testing.T, d *datadriven.TestData, key string) []uint64 {
	t.Helper()
	a, ok := d.Arg(key)
	if !ok {
		return nil
	}
	var ids []uint64
	for _, v := range a.Vals {
		for _, f := range strings.Fields(v) {
			id, err := strconv.ParseUint(f, 10, 64)
			if err != nil || id == 0 {
				d.Fatalf(t, "%s: %q is not a node ID", key, f)
			}
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// checkArgs fails the test on an option the command does not know, so a
// typo does not silently change a scenario.
func checkArgs(t *testing.T, d *datadriven.TestData, known ...string) {
	t.Helper()
	for _, a := range d.CmdArgs {
		// Bare arguments are positional or flags; a misspelled flag fails
		// where the positional arguments are parsed.
		if len(a.Vals) > 0 && !slices.Contains(known, a.Key) {
			d.Fatalf(t, "%s does not take %q (known: %s)", d.Cmd, a.Key, strings.Join(known, ", "))
		}
	}
}
