package sim

import (
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/tickraft/raft"
	pb "github.com/tickraft/raft/raftpb"
)

// Config says what to run.
type Config struct {
	// Seed determines the whole run: the options and every choice made.
	Seed uint64
	// Steps is the number of random actions before the liveness phase.
	Steps int
	// TraceLen is the number of events a failure report shows (the last
	// ones). Zero means DefaultTraceLen.
	TraceLen int
	// Bugs switches on faults of the simulated application.
	Bugs AppBugs
	// Tweak, if set, adjusts the options drawn from the seed. Tests that
	// inject bugs use it to favour the conditions a bug needs.
	Tweak func(*Options)
	// Log, if set, receives every event as it happens.
	Log io.Writer
	// Replay, if set, is the command that replays a seed of this
	// configuration; failure reports print it. The default names
	// TestReplay.
	Replay func(seed uint64) string
}

// DefaultTraceLen is the length of the trace printed with a failure.
const DefaultTraceLen = 50

// Stats count what happened in a run, to see that runs exercise what they
// should.
type Stats struct {
	Steps        int
	Leaders      int // distinct (term, leader) pairs
	MaxTerm      uint64
	Committed    uint64 // the highest index applied anywhere
	Proposals    int
	Crashes      int
	Snapshots    int // snapshots restored by a state machine
	ConfChanges  int // configuration changes applied by the first node to apply them
	ReadsChecked int // ReadStates checked against the committed writes
	Delivered    int
	Dropped      int
	LivenessTick int // ticks the liveness phase needed
}

// Result is the outcome of a run.
type Result struct {
	Seed    uint64
	Options Options
	Stats   Stats
	// Failure is the first property violated, or nil.
	Failure *Failure
}

// The names of the checkers, as a Failure reports them.
const (
	CheckElectionSafety     = "election safety"
	CheckLogMatching        = "log matching"
	CheckLeaderCompleteness = "leader completeness"
	CheckStateMachine       = "state machine safety"
	CheckDurability         = "durability"
	CheckReads              = "linearizable reads"
	CheckLiveness           = "liveness"
	// CheckNode reports a node misbehaving in a way no property above
	// names: a panic, a storage failure, an error where the Ready contract
	// promises none. It may be a core bug or a simulator bug.
	CheckNode = "node"
)

// Failure describes a violated property.
type Failure struct {
	Seed    uint64
	Steps   int // the run's Steps, needed to replay it
	Step    int // the step at which the violation was seen
	Checker string
	Message string
	Options Options
	Trace   []string
	Replay  string // the command that replays the run
}

func (f *Failure) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: %s violated at step %d: %s\n", f.Seed, f.Checker, f.Step, f.Message)
	fmt.Fprintf(&b, "options: %s\n", f.Options)
	fmt.Fprintf(&b, "replay: %s\n", f.Replay)
	fmt.Fprintf(&b, "last %d events:\n", len(f.Trace))
	for _, l := range f.Trace {
		b.WriteString("  ")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

func (s *Sim) replayCommand() string {
	if s.cfg.Replay != nil {
		return s.cfg.Replay(s.cfg.Seed)
	}
	return fmt.Sprintf("go test ./rafttest/sim/ -run TestReplay -sim.seed=%d -sim.steps=%d%s",
		s.cfg.Seed, s.cfg.Steps, bugFlags(s.cfg.Bugs))
}

func bugFlags(b AppBugs) string {
	s := ""
	if b.DropHardState {
		s += " -sim.bug.drophardstate"
	}
	if b.ApplyTwice {
		s += " -sim.bug.applytwice"
	}
	return s
}

// link is a one-way network connection.
type link struct{ from, to uint64 }

// envelope is a message in flight with the incarnation of its sender, so
// that transport feedback (ReportUnreachable, ReportSnapshot) goes only to
// the node that sent it, not to a later incarnation.
type envelope struct {
	m       *pb.Message
	fromInc int
}

// Sim is one simulated run. Everything happens in one goroutine; rng makes
// every choice.
type Sim struct {
	cfg  Config
	opts Options
	rng  *rand.Rand
	step int

	nodes map[uint64]*node
	ids   []uint64 // the keys of nodes, sorted
	// nextID is the next fresh node ID; IDs are never reused.
	nextID uint64
	// allocated are IDs handed to configuration changes: a node with such
	// an ID is created, empty, when the first message reaches it.
	allocated map[uint64]bool

	net []envelope
	cut map[link]bool
	// calm periods have few faults.
	calm bool
	// faultsOff is set for the liveness phase: no more faults, injected
	// bugs included.
	faultsOff bool
	// maxDrain is the liveness phase's bound on deliveries between ticks.
	maxDrain int

	nextPayload, nextRead uint64

	tr      *tracer
	failure *Failure
	stats   Stats
	chk     checkState
}

// Run runs one seed and returns its result. It never panics: a panic in the
// raft core (a broken invariant) is reported as a failure.
func Run(cfg Config) (res Result) {
	if cfg.TraceLen == 0 {
		cfg.TraceLen = DefaultTraceLen
	}
	s := newSim(cfg)
	defer func() {
		if r := recover(); r != nil {
			s.failf(CheckNode, "panic: %v\n%s", r, debug.Stack())
		}
		s.stats.Committed = s.chk.maxApplied
		res = Result{Seed: cfg.Seed, Options: s.opts, Stats: s.stats, Failure: s.failure}
	}()
	s.run()
	return
}

func newSim(cfg Config) *Sim {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x7ac4a5f7))
	opts := chooseOptions(rng)
	opts.Bugs = cfg.Bugs
	if cfg.Tweak != nil {
		cfg.Tweak(&opts)
	}
	s := &Sim{
		cfg:       cfg,
		opts:      opts,
		rng:       rng,
		nodes:     map[uint64]*node{},
		allocated: map[uint64]bool{},
		cut:       map[link]bool{},
		tr:        newTracer(cfg.TraceLen),
	}
	s.chk.init()
	return s
}

func (s *Sim) run() {
	s.bootstrap()
	for s.step = 1; s.step <= s.cfg.Steps && s.failure == nil; s.step++ {
		s.stats.Steps++
		s.randomAction()
		s.settle()
		s.checkStep(s.step%100 == 0)
	}
	if s.failure == nil {
		s.liveness()
	}
	if s.failure == nil {
		s.checkDurability()
	}
}

// bootstrap starts the founding members and handles their first Readies,
// before any fault can strike.
func (s *Sim) bootstrap() {
	peers := make([]raft.Peer, s.opts.Voters)
	for i := range peers {
		peers[i] = raft.Peer{ID: uint64(i + 1)}
	}
	s.nextID = uint64(len(peers)) + 1
	for _, p := range peers {
		n := s.addNode(p.ID)
		s.start(n)
		if err := n.rn.Bootstrap(peers); err != nil {
			s.failf(CheckNode, "node %d: Bootstrap: %v", n.id, err)
			return
		}
	}
	s.logf("bootstrap: %d voters, options: %s", len(peers), s.opts)
	s.settle()
	// In asynchronous mode the bootstrap writes are queued: do them now.
	for _, id := range s.ids {
		n := s.nodes[id]
		for len(n.appendQ) > 0 || len(n.applyQ) > 0 {
			s.processAppend(n)
			s.processApply(n)
			s.settle()
		}
	}
	s.checkStep(false)
}

// addNode creates a node with empty storage, not running.
func (s *Sim) addNode(id uint64) *node {
	n := &node{id: id, storage: raft.NewMemoryStorage(), app: newAppState()}
	s.attachDisk(n)
	s.nodes[id] = n
	s.ids = slices.Sorted(maps.Keys(s.nodes))
	return n
}

// logf adds an event to the trace.
func (s *Sim) logf(format string, args ...any) {
	s.event(event{step: s.step, text: fmt.Sprintf(format, args...)})
}

func (s *Sim) event(e event) {
	s.tr.add(e)
	if s.cfg.Log != nil {
		fmt.Fprintln(s.cfg.Log, e.String())
	}
}

// failf records a violation. Only the first one of a run counts; the run
// stops at the end of the step.
func (s *Sim) failf(checker, format string, args ...any) {
	if s.failure != nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	s.logf("VIOLATION of %s: %s", checker, msg)
	s.failure = &Failure{
		Seed: s.cfg.Seed, Steps: s.cfg.Steps, Step: s.step, Checker: checker, Message: msg,
		Options: s.opts, Trace: s.tr.lines(), Replay: s.replayCommand(),
	}
}

// upNodes returns the running nodes in ID order.
func (s *Sim) upNodes() []*node {
	var out []*node
	for _, id := range s.ids {
		if n := s.nodes[id]; n.up() {
			out = append(out, n)
		}
	}
	return out
}

// pick returns a random element of l, or the zero value if l is empty.
func pick[T any](rng *rand.Rand, l []T) T {
	var zero T
	if len(l) == 0 {
		return zero
	}
	return l[rng.IntN(len(l))]
}

// leader returns the running node that leads in the highest term, or nil.
func (s *Sim) leader() *node {
	var best *node
	var bestTerm uint64
	for _, n := range s.upNodes() {
		st := n.rn.BasicStatus()
		if st.RaftState == raft.StateLeader && (best == nil || st.Term > bestTerm) {
			best, bestTerm = n, st.Term
		}
	}
	return best
}

// settle hands out and handles the Ready of every running node until none
// has work left. Asynchronous storage work stays queued for later steps.
func (s *Sim) settle() {
	for round := 0; ; round++ {
		if round > 1000 {
			s.failf(CheckNode, "the nodes never stop producing Readies: a livelock")
			return
		}
		busy := false
		for _, id := range s.ids {
			n := s.nodes[id]
			if n.up() && n.rn.HasReady() {
				busy = true
				s.handleReady(n)
			}
		}
		if !busy || s.failure != nil {
			return
		}
	}
}
