package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/tickraft/raft/examples/raftkv/api"
	"github.com/tickraft/raft/examples/raftkv/chaos/diskfault"
	"github.com/tickraft/raft/examples/raftkv/internal/cluster"
)

// The fault kinds of the nemesis.
const (
	KillLeader    = "kill-leader"    // SIGKILL the leader, restart from its data dir
	KillRandom    = "kill-random"    // SIGKILL any node, restart
	Pause         = "pause"          // SIGSTOP longer than the election timeout, SIGCONT
	Partition     = "partition"      // a random minority cut from the majority
	IsolateLeader = "isolate-leader" // the leader cut from everyone
	OneWay        = "one-way"        // the leader's messages out (or in) lost, the other way through
	Flapping      = "flapping"       // random partitions switched on and off every few hundred ms
	DiskSync      = "disk-sync"      // fsync fails on a node: it must stop; restarted healthy
	DiskFull      = "disk-full"      // writes fail with ENOSPC: it must stop; restarted healthy
	TornTail      = "torn-tail"      // kill, lose the unsynced writes keeping a torn prefix, restart
	PowerLoss     = "power-loss"     // every node killed at once and its unsynced writes lost
	Membership    = "membership"     // replace the leader or a voter (add learner, promote, remove) during a partition
	Skew          = "skew"           // the leader's ticks run slower or faster, and it is isolated (lease reads)
)

// DefaultSkews are the tick interval factors of the skew fault: within
// the bound raft.ReadOnlyLeaseBased documents (drift below one tick per
// election timeout: under 10% at 10 election ticks): a leader 5% or 9%
// slower, or twice as fast (a fast leader's lease only ends sooner).
var DefaultSkews = []float64{0.5, 1.05, 1.09}

// AllFaults lists every fault kind.
var AllFaults = []string{KillLeader, KillRandom, Pause, Partition, IsolateLeader, OneWay, Flapping,
	DiskSync, DiskFull, TornTail, PowerLoss, Membership, Skew}

// Step is one fault of a schedule: after Gap, inject Kind, hold it for
// Hold, heal. Member adds a membership change while the fault holds.
// Choice seeds the choices made when the step runs (which node, which
// side), since who leads is only known then.
type Step struct {
	Kind   string        `json:"kind"`
	Gap    time.Duration `json:"gap"`
	Hold   time.Duration `json:"hold"`
	Member bool          `json:"member,omitempty"`
	Skew   float64       `json:"skew,omitempty"` // tick interval factor
	Choice uint64        `json:"choice"`
}

// Schedule draws the nemesis schedule from a seed: the kinds in a
// shuffled order, again and again, until the duration is filled. elect is
// the election timeout (holds are a few of them).
func Schedule(seed uint64, d, elect time.Duration, kinds []string, skews []float64) []Step {
	rng := rand.New(rand.NewPCG(seed, 0x6e656d65))
	var out []Step
	var total time.Duration
	// Twice the duration's worth: the nemesis stops when the time is up,
	// however fast the steps went.
	for total < 2*d {
		order := slices.Clone(kinds)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, k := range order {
			s := Step{Kind: k, Gap: time.Duration(500+rng.IntN(1500)) * time.Millisecond,
				Hold: elect*3/2 + time.Duration(rng.Int64N(int64(elect*3))), Choice: rng.Uint64()}
			switch k {
			case Partition, KillRandom, IsolateLeader:
				s.Member = rng.IntN(3) == 0
			case Skew:
				s.Skew = skews[rng.IntN(len(skews))]
			}
			out = append(out, s)
			total += s.Gap + s.Hold
			if total >= 2*d {
				break
			}
		}
	}
	return out
}

// Event is what the nemesis did, for the failure directory.
type Event struct {
	T      time.Duration `json:"t"`
	Kind   string        `json:"kind"`
	Detail string        `json:"detail"`
}

func (r *run) event(kind, format string, args ...any) {
	e := Event{T: time.Since(r.start).Truncate(time.Millisecond), Kind: kind, Detail: fmt.Sprintf(format, args...)}
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	r.logf("%8v %-14s %s", e.T, kind, e.Detail)
}

// nemesis runs the schedule until it is done or the time is up.
func (r *run) nemesis(ctx context.Context, steps []Step, until time.Time) {
	for _, s := range steps {
		sleep(ctx, s.Gap)
		if ctx.Err() != nil || time.Now().After(until) || r.broken() {
			return
		}
		r.runStep(ctx, s)
	}
}

func (r *run) runStep(ctx context.Context, s Step) {
	rng := rand.New(rand.NewPCG(s.Choice, 1))
	heal, err := r.inject(ctx, s, rng)
	if err != nil {
		r.event(s.Kind, "not injected: %v", err)
		return
	}
	r.mu.Lock()
	r.faults[s.Kind]++
	r.mu.Unlock()
	if s.Member {
		r.replace(ctx, rng, rng.IntN(2) == 0)
	} else {
		sleep(ctx, s.Hold)
	}
	if err := heal(); err != nil {
		r.violation(fmt.Errorf("healing %s: %v", s.Kind, err))
	}
	r.event("heal", "%s healed", s.Kind)
	r.measureRecovery(ctx)
}

type injector func(r *run, ctx context.Context, s Step, rng *rand.Rand) (func() error, error)

var injectors = map[string]injector{
	KillLeader: func(r *run, ctx context.Context, s Step, rng *rand.Rand) (func() error, error) {
		return r.kill(ctx, r.leaderOr(ctx, rng), KillLeader)
	},
	KillRandom: func(r *run, ctx context.Context, s Step, rng *rand.Rand) (func() error, error) {
		return r.kill(ctx, r.anyMember(rng), KillRandom)
	},
	Pause:     (*run).pause,
	Partition: (*run).partition,
	IsolateLeader: func(r *run, ctx context.Context, s Step, rng *rand.Rand) (func() error, error) {
		return r.isolate(ctx, r.leaderOr(ctx, rng))
	},
	OneWay:   (*run).oneWay,
	Flapping: (*run).flapping,
	DiskSync: func(r *run, ctx context.Context, s Step, rng *rand.Rand) (func() error, error) {
		return r.disk(ctx, rng, diskfault.ModeSync)
	},
	DiskFull: func(r *run, ctx context.Context, s Step, rng *rand.Rand) (func() error, error) {
		return r.disk(ctx, rng, diskfault.ModeENOSPC)
	},
	TornTail:   (*run).tornTail,
	PowerLoss:  (*run).powerLoss,
	Membership: (*run).membership,
	Skew:       (*run).skew,
}

func (r *run) inject(ctx context.Context, s Step, rng *rand.Rand) (func() error, error) {
	in, ok := injectors[s.Kind]
	if !ok {
		return nil, fmt.Errorf("unknown fault kind %q", s.Kind)
	}
	return in(r, ctx, s, rng)
}

func (r *run) kill(ctx context.Context, n *cluster.Node, kind string) (func() error, error) {
	if err := n.Kill(); err != nil {
		return nil, err
	}
	r.event(kind, "SIGKILL node %d", n.ID)
	return func() error { return r.restart(ctx, n) }, nil
}

// restart starts a node again from its data dir.
func (r *run) restart(ctx context.Context, n *cluster.Node) error {
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_ = n.Kill() // reap it if it exited by itself
	err := n.Start(sctx)
	r.event("restart", "node %d restarted (err %v)", n.ID, err)
	return err
}

func (r *run) pause(ctx context.Context, s Step, rng *rand.Rand) (func() error, error) {
	n := r.anyMember(rng)
	if rng.IntN(2) == 0 {
		n = r.leaderOr(ctx, rng)
	}
	if err := n.Signal(syscall.SIGSTOP); err != nil {
		return nil, err
	}
	r.event(Pause, "SIGSTOP node %d for %v", n.ID, s.Hold)
	return func() error { return n.Signal(syscall.SIGCONT) }, nil
}

// cut drops every message between the two sides (only is, when set,
// one-directional: from a to b).
func (r *run) cut(ctx context.Context, a, b []*cluster.Node) error {
	ids := func(ns []*cluster.Node) []uint64 {
		var out []uint64
		for _, n := range ns {
			out = append(out, n.ID)
		}
		return out
	}
	for _, n := range a {
		r.setFaults(ctx, n, ids(b), ids(b))
	}
	for _, n := range b {
		r.setFaults(ctx, n, ids(a), ids(a))
	}
	return nil
}

func (r *run) setFaults(ctx context.Context, n *cluster.Node, to, from []uint64) {
	fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if to == nil {
		to = []uint64{}
	}
	if from == nil {
		from = []uint64{}
	}
	if e, err := r.h.call(fctx, "POST", n.APIAddr, "/v1/test/faults", nil, api.FaultsRequest{DropTo: to, DropFrom: from}, nil); err != nil || e != nil {
		r.event("fault-hook", "node %d: setting faults failed: %v %v", n.ID, err, e)
	}
}

// healNet clears every node's message faults.
func (r *run) healNet(ctx context.Context) error {
	for _, n := range r.cl.Nodes() {
		if n.Running() {
			r.setFaults(ctx, n, nil, nil)
		}
	}
	return nil
}

func (r *run) partition(ctx context.Context, s Step, rng *rand.Rand) (func() error, error) {
	ms := r.memberNodes()
	rng.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
	k := 1 + rng.IntN(max(1, (len(ms)-1)/2))
	r.cut(ctx, ms[:k], ms[k:])
	r.event(Partition, "minority %v | majority %v", nodeIDs(ms[:k]), nodeIDs(ms[k:]))
	return func() error { return r.healNet(ctx) }, nil
}

func (r *run) isolate(ctx context.Context, l *cluster.Node) (func() error, error) {
	var others []*cluster.Node
	for _, n := range r.memberNodes() {
		if n != l {
			others = append(others, n)
		}
	}
	r.cut(ctx, []*cluster.Node{l}, others)
	r.event(IsolateLeader, "node %d cut from %v", l.ID, nodeIDs(others))
	return func() error { return r.healNet(ctx) }, nil
}

func (r *run) oneWay(ctx context.Context, s Step, rng *rand.Rand) (func() error, error) {
	l := r.leaderOr(ctx, rng)
	var others []uint64
	for _, n := range r.memberNodes() {
		if n != l {
			others = append(others, n.ID)
		}
	}
	if rng.IntN(2) == 0 {
		r.setFaults(ctx, l, others, nil)
		r.event(OneWay, "node %d's messages out lost (it still hears %v)", l.ID, others)
	} else {
		r.setFaults(ctx, l, nil, others)
		r.event(OneWay, "messages into node %d lost (it still reaches %v)", l.ID, others)
	}
	return func() error { return r.healNet(ctx) }, nil
}

func (r *run) flapping(ctx context.Context, s Step, rng *rand.Rand) (func() error, error) {
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for on := true; fctx.Err() == nil; on = !on {
			if on {
				ms := r.memberNodes()
				rng.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
				k := 1 + rng.IntN(max(1, (len(ms)-1)/2))
				r.cut(fctx, ms[:k], ms[k:])
			} else {
				r.healNet(fctx)
			}
			sleep(fctx, time.Duration(100+rng.IntN(500))*time.Millisecond)
		}
	}()
	r.event(Flapping, "partitions switching every 100-600ms for %v", s.Hold)
	return func() error {
		cancel()
		<-done
		return r.healNet(ctx)
	}, nil
}

// disk makes a node's wal fail; the node must stop by itself.
func (r *run) disk(ctx context.Context, rng *rand.Rand, mode string) (func() error, error) {
	n := r.anyMember(rng)
	if !n.Running() {
		return nil, fmt.Errorf("node %d is not running", n.ID)
	}
	ctl := filepath.Join(n.DataDir, diskfault.ControlFile)
	os.Remove(filepath.Join(n.DataDir, diskfault.RefusedFile)) // this fault's list only
	if err := os.WriteFile(ctl, []byte(mode), 0o644); err != nil {
		return nil, err
	}
	kind := map[string]string{diskfault.ModeSync: DiskSync, diskfault.ModeENOSPC: DiskFull}[mode]
	r.event(kind, "node %d's wal now fails (%s)", n.ID, mode)
	deadline := time.Now().Add(r.diskStopBound())
	for {
		if exited, err := exited(n); exited {
			r.event(kind, "node %d stopped by itself: %v", n.ID, err)
			break
		}
		if time.Now().After(deadline) {
			r.checkStillRunning(ctx, n, kind)
			break
		}
		sleep(ctx, 50*time.Millisecond)
	}
	return func() error {
		os.Remove(ctl)
		return r.restart(ctx, n)
	}, nil
}

// checkStillRunning judges a node that still runs diskStopBound after its
// disk started failing. It must have stopped if the fault reached its wal:
// a wal that cannot write or sync has nothing it may acknowledge. A node
// whose wal was never written meanwhile may run on: one that lags behind a
// compacted log only receives snapshots, and refusing one for a full disk
// loses nothing (the leader retries).
func (r *run) checkStillRunning(ctx context.Context, n *cluster.Node, kind string) {
	refused, err := diskfault.Refused(n.DataDir)
	if err != nil {
		r.violation(fmt.Errorf("%s: node %d: reading what its disk refused: %v", kind, n.ID, err))
		return
	}
	walDir := filepath.Join(n.DataDir, "wal") + string(filepath.Separator)
	var wal, other []string
	for _, p := range refused {
		if strings.HasPrefix(p, walDir) || p == strings.TrimSuffix(walDir, string(filepath.Separator)) {
			wal = append(wal, p)
		} else {
			other = append(other, p)
		}
	}
	if len(wal) > 0 {
		r.violation(fmt.Errorf("%s: node %d still runs %v after its wal failed (%s): it must stop (%s)",
			kind, n.ID, r.diskStopBound(), strings.Join(wal, ", "), r.describeProgress(ctx, n)))
		return
	}
	what := "nothing was written"
	if len(other) > 0 {
		what = fmt.Sprintf("%d other files refused, the first %s", len(other), other[0])
	}
	r.event(kind, "node %d runs on: the fault never reached its wal (%s; %s)", n.ID, what, r.describeProgress(ctx, n))
}

// diskStopBound: a node whose disk fails must stop within this (it
// writes at every batch of client writes).
func (r *run) diskStopBound() time.Duration { return 20 * time.Second }

func (r *run) tornTail(ctx context.Context, s Step, rng *rand.Rand) (func() error, error) {
	n := r.anyMember(rng)
	if err := n.Kill(); err != nil {
		return nil, err
	}
	undone, err := diskfault.Rollback(n.DataDir, rng)
	if err != nil {
		return nil, err
	}
	r.event(TornTail, "SIGKILL node %d, %d unsynced writes lost (a torn prefix may remain)", n.ID, undone)
	return func() error { return r.restart(ctx, n) }, nil
}

func (r *run) powerLoss(ctx context.Context, s Step, rng *rand.Rand) (func() error, error) {
	ns := r.memberNodes()
	for _, n := range ns {
		_ = n.Kill()
	}
	total := 0
	for _, n := range ns {
		undone, err := diskfault.Rollback(n.DataDir, rng)
		if err != nil {
			return nil, err
		}
		total += undone
	}
	r.event(PowerLoss, "every node (%v) killed at once, %d unsynced writes lost", nodeIDs(ns), total)
	return func() error {
		for _, n := range ns {
			if err := r.restart(ctx, n); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// membership replaces a voter (the leader or another) while a minority is
// partitioned.
func (r *run) membership(ctx context.Context, s Step, rng *rand.Rand) (func() error, error) {
	heal, err := r.partition(ctx, s, rng)
	if err != nil {
		return nil, err
	}
	r.replace(ctx, rng, rng.IntN(2) == 0)
	return heal, nil
}

// skew restarts the leader with its ticks scaled, hands it the lead back,
// then isolates it: a slow leader's lease outlives the others' election
// timeout.
func (r *run) skew(ctx context.Context, s Step, rng *rand.Rand) (func() error, error) {
	n := r.leaderOr(ctx, rng)
	_ = n.Kill()
	n.Args = []string{"-tick", time.Duration(float64(r.cfg.Tick) * s.Skew).String()}
	if err := r.restart(ctx, n); err != nil {
		n.Args = nil
		return nil, err
	}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err := r.client().TransferLeader(tctx, n.ID)
	cancel()
	r.event(Skew, "node %d ticks every %v (x%v), leadership handed to it (err %v)", n.ID, n.Args[1], s.Skew, err)
	sleep(ctx, s.Hold/2)
	heal, _ := r.isolate(ctx, n)
	return func() error {
		heal()
		_ = n.Kill()
		n.Args = nil
		return r.restart(ctx, n)
	}, nil
}

func nodeIDs(ns []*cluster.Node) []uint64 {
	out := make([]uint64, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

// replace adds a new node as a learner, then makes it a voter in place
// of the leader (leader) or another voter, and stops the one removed.
func (r *run) replace(ctx context.Context, rng *rand.Rand, leader bool) {
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	victim := r.anyMember(rng)
	if leader {
		victim = r.leaderOr(mctx, rng)
	}
	r.mu.Lock()
	id := r.nextID
	r.nextID++
	r.mu.Unlock()
	n, err := r.cl.Add(id)
	if err == nil {
		err = n.Start(mctx)
	}
	if err != nil {
		r.event(Membership, "starting node %d: %v", id, err)
		return
	}
	cl := r.client()
	defer cl.Close()
	if _, err := cl.AddLearner(mctx, id, n.RaftAddr, n.APIAddr, true); err != nil {
		r.event(Membership, "add-learner %d: %v", id, err)
		r.refreshMembers(ctx)
		return
	}
	r.event(Membership, "node %d added as a learner", id)
	r.refreshMembers(ctx) // the learner takes client traffic too
	var voters []uint64
	for _, v := range r.voterIDs() {
		if v != victim.ID {
			voters = append(voters, v)
		}
	}
	voters = append(voters, id)
	_, err = cl.ChangeMembership(mctx, voters...)
	r.event(Membership, "voters -> %v (promote %d, remove %d%s): err %v", voters, id, victim.ID,
		map[bool]string{true: ", the leader", false: ""}[leader], err)
	r.refreshMembers(ctx)
}

func (r *run) voterIDs() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.voters)
}

// refreshMembers learns the membership from the leader; nodes no longer
// in it are stopped.
func (r *run) refreshMembers(ctx context.Context) {
	for i := 0; i < 100 && ctx.Err() == nil; i++ {
		st, err := r.leaderStatus(ctx)
		if err != nil || st.Joint {
			sleep(ctx, 100*time.Millisecond)
			continue
		}
		var voters, all []uint64
		for _, m := range st.Members {
			all = append(all, m.ID)
			if m.Role != "learner" {
				voters = append(voters, m.ID)
			}
		}
		r.mu.Lock()
		r.voters, r.members = voters, all
		r.mu.Unlock()
		for _, n := range r.cl.Nodes() {
			if !slices.Contains(all, n.ID) && n.Running() {
				_ = n.Stop(5 * time.Second)
				r.event(Membership, "node %d is no longer a member: stopped", n.ID)
			}
		}
		return
	}
	r.event(Membership, "membership unknown: no leader answered")
}

func (r *run) leaderStatus(ctx context.Context) (api.Status, error) {
	var best api.Status
	found := false
	for _, n := range r.memberNodes() {
		if !n.Running() {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		var st api.Status
		e, err := r.h.call(sctx, "GET", n.APIAddr, "/v1/admin/status", nil, nil, &st)
		cancel()
		if err == nil && e == nil && st.Role == "leader" && (!found || st.Term > best.Term) {
			best, found = st, true
		}
	}
	if !found {
		return best, fmt.Errorf("no leader")
	}
	return best, nil
}

// leaderOr returns the leader, or a random member when none is known.
func (r *run) leaderOr(ctx context.Context, rng *rand.Rand) *cluster.Node {
	for i := 0; i < 20; i++ {
		if st, err := r.leaderStatus(ctx); err == nil {
			if n := r.cl.Node(st.NodeID); n != nil {
				return n
			}
		}
		sleep(ctx, 100*time.Millisecond)
	}
	return r.anyMember(rng)
}

func (r *run) anyMember(rng *rand.Rand) *cluster.Node {
	ms := r.memberNodes()
	return ms[rng.IntN(len(ms))]
}

// memberNodes returns the nodes of the current members.
func (r *run) memberNodes() []*cluster.Node {
	r.mu.Lock()
	ids := slices.Clone(r.members)
	r.mu.Unlock()
	var out []*cluster.Node
	for _, id := range ids {
		if n := r.cl.Node(id); n != nil {
			out = append(out, n)
		}
	}
	return out
}

// exited reports whether a node's process ended by itself (it counts as
// running until it is reaped by Kill or Stop).
func exited(n *cluster.Node) (bool, error) {
	done := n.Exited()
	if done == nil {
		return false, nil
	}
	select {
	case <-done:
		return true, n.ExitErr()
	default:
		return false, nil
	}
}

// describeProgress says how far a node is and how the leader sees it.
func (r *run) describeProgress(ctx context.Context, n *cluster.Node) string {
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var st api.Status
	out := ""
	if e, err := r.h.call(sctx, "GET", n.APIAddr, "/v1/admin/status", nil, nil, &st); err == nil && e == nil {
		out = fmt.Sprintf("node %d: term %d last index %d commit %d", n.ID, st.Term, st.LastIndex, st.Commit)
	}
	if l, err := r.leaderStatus(ctx); err == nil {
		for _, m := range l.Members {
			if m.ID == n.ID {
				out += fmt.Sprintf("; leader %d (last index %d) sees it %s match %d next %d", l.NodeID, l.LastIndex, m.State, m.Match, m.Next)
			}
		}
	}
	return out
}
