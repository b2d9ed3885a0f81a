// Package cluster runs raftkv server processes on loopback, for the demo
// and the end-to-end tests: it builds the binary, picks free ports, starts,
// kills (SIGKILL), stops (SIGTERM) and restarts nodes, and waits for
// cluster states through the API.
package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tickraft/raft/examples/raftkv/api"
	"github.com/tickraft/raft/examples/raftkv/client"
)

// Build compiles the raftkv binaries into dir and returns their paths by
// command name ("raftkv", "raftkv-cli"). It must run inside the raftkv
// module.
func Build(dir string, cmds ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, c := range cmds {
		bin := filepath.Join(dir, c)
		cmd := exec.Command("go", "build", "-o", bin, "github.com/tickraft/raft/examples/raftkv/cmd/"+c)
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %v\n%s", c, err, b)
		}
		out[c] = bin
	}
	return out, nil
}

// FreeAddr returns a loopback address with a port free right now. It
// picks below the kernel's ephemeral range: a node restarted on its port
// must find it free, and ports of the ephemeral range are handed to every
// outgoing connection (and to listeners on :0) in the meantime.
func FreeAddr() (string, error) {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 12000 {
				low = n
			}
		}
	}
	for range 200 {
		port := 10000 + rand.IntN(low-10000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			l.Close()
			return l.Addr().String(), nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Cluster is a set of nodes sharing a binary and a base directory.
type Cluster struct {
	Bin  string
	Dir  string
	SM   string   // memory or pebble
	Args []string // extra flags for every node
	// TLS is the clients' config when the nodes serve HTTPS.
	TLS *tls.Config
	// Binary makes nodes started from now on serve the binary client
	// protocol (-client-addr) and Client use it.
	Binary bool

	mu    sync.Mutex
	nodes map[uint64]*Node
}

// Node is one server process (or none, when stopped).
type Node struct {
	ID                uint64
	RaftAddr, APIAddr string
	// ClientAddr is the binary client protocol's address (set at the
	// first start with Cluster.Binary).
	ClientAddr       string
	DataDir, LogPath string
	Args             []string // extra flags of this node

	c    *Cluster
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// New returns an empty cluster.
func New(bin, dir, sm string, args ...string) *Cluster {
	return &Cluster{Bin: bin, Dir: dir, SM: sm, Args: args, nodes: map[uint64]*Node{}}
}

// Add creates node id with free ports (not started).
func (c *Cluster) Add(id uint64) (*Node, error) {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, err
	}
	raft, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	apiAddr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	n := &Node{ID: id, RaftAddr: raft, APIAddr: apiAddr, c: c,
		DataDir: filepath.Join(c.Dir, fmt.Sprintf("node%d", id)), LogPath: filepath.Join(c.Dir, fmt.Sprintf("node%d.log", id))}
	c.mu.Lock()
	c.nodes[id] = n
	c.mu.Unlock()
	return n, nil
}

// Node returns node id.
func (c *Cluster) Node(id uint64) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

// Nodes returns every node, in ID order.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Node
	for id := uint64(1); len(out) < len(c.nodes); id++ {
		if n := c.nodes[id]; n != nil {
			out = append(out, n)
		}
	}
	return out
}

// Endpoints returns the API addresses of the nodes.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, n := range c.Nodes() {
		out = append(out, n.APIAddr)
	}
	return out
}

// Start starts the node's process (its log is appended to LogPath) and
// waits until its API answers.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	if n.cmd != nil {
		n.mu.Unlock()
		return fmt.Errorf("node %d is running", n.ID)
	}
	args := []string{"-id", strconv.FormatUint(n.ID, 10), "-raft-addr", n.RaftAddr, "-api-addr", n.APIAddr,
		"-data-dir", n.DataDir, "-sm", n.c.SM}
	if n.c.Binary && n.ClientAddr == "" {
		a, err := FreeAddr()
		if err != nil {
			n.mu.Unlock()
			return err
		}
		n.ClientAddr = a
	}
	if n.ClientAddr != "" {
		args = append(args, "-client-addr", n.ClientAddr)
	}
	args = append(append(args, n.c.Args...), n.Args...)
	logf, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		n.mu.Unlock()
		return err
	}
	cmd := exec.Command(n.c.Bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		n.mu.Unlock()
		return err
	}
	done := make(chan struct{})
	n.cmd, n.done, n.err = cmd, done, nil
	n.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logf.Close()
		n.mu.Lock()
		n.err = err
		if n.cmd == cmd {
			n.cmd = nil // it exited on its own (or was signalled)
		}
		n.mu.Unlock()
		close(done)
	}()
	cl := client.New([]string{n.APIAddr}, client.Options{AttemptTimeout: 500 * time.Millisecond, TLS: n.c.TLS})
	defer cl.Close()
	for {
		if _, err := cl.Status(ctx, n.APIAddr); err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("node %d exited at start: %v (log: %s)", n.ID, n.exitErr(), n.LogPath)
		case <-ctx.Done():
			return fmt.Errorf("node %d did not answer: %w", n.ID, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Exited returns a channel closed when the current (or last) process
// exits, and ExitErr its exit status.
func (n *Node) Exited() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.done
}

// ExitErr is the last process's exit status (nil: exit 0 or still running).
func (n *Node) ExitErr() error { return n.exitErr() }

func (n *Node) exitErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.err
}

// CPU returns the CPU time (user and system) the running process used so
// far, from /proc (0 when unknown).
func (n *Node) CPU() time.Duration {
	n.mu.Lock()
	cmd := n.cmd
	n.mu.Unlock()
	if cmd == nil {
		return 0
	}
	return ProcessCPU(cmd.Process.Pid)
}

// ProcessCPU reads a process's user+system CPU time from /proc (Linux;
// 0 elsewhere). Clock ticks are taken as 100 per second (USER_HZ).
func ProcessCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// Running reports whether the process runs.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// Kill sends SIGKILL and waits for the process to end.
func (n *Node) Kill() error { return n.signal(syscall.SIGKILL, nil) }

// Stop sends SIGTERM and waits up to timeout (then kills); the error is
// the exit status (nil: a clean stop).
func (n *Node) Stop(timeout time.Duration) error {
	return n.signal(syscall.SIGTERM, time.After(timeout))
}

func (n *Node) signal(sig syscall.Signal, timeout <-chan time.Time) error {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return nil // not running (or exited by itself: see ExitErr)
	}
	_ = cmd.Process.Signal(sig)
	var late error
	select {
	case <-done:
	case <-timeout:
		_ = cmd.Process.Kill()
		<-done
		late = fmt.Errorf("node %d did not stop in time after %v", n.ID, sig)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cmd = nil
	if sig == syscall.SIGKILL || late != nil {
		return late
	}
	return n.err
}

// StopAll stops every running node with SIGTERM.
func (c *Cluster) StopAll(timeout time.Duration) error {
	var errs []error
	for _, n := range c.Nodes() {
		if err := n.Stop(timeout); err != nil {
			errs = append(errs, fmt.Errorf("node %d: %w", n.ID, err))
		}
	}
	return errors.Join(errs...)
}

// KillAll kills every running node (cleanup after a failure).
func (c *Cluster) KillAll() {
	for _, n := range c.Nodes() {
		_ = n.Kill()
	}
}

// Status asks one node for its status.
func (n *Node) Status(ctx context.Context) (api.Status, error) {
	cl := client.New([]string{n.APIAddr}, client.Options{AttemptTimeout: time.Second, TLS: n.c.TLS})
	defer cl.Close()
	return cl.Status(ctx, n.APIAddr)
}

// Client returns a client of the whole cluster.
func (c *Cluster) Client() *client.Client {
	opts := client.Options{TLS: c.TLS}
	if c.Binary {
		for _, n := range c.Nodes() {
			if n.ClientAddr != "" {
				opts.ClientAddrs = append(opts.ClientAddrs, n.ClientAddr)
			}
		}
	}
	return client.New(c.Endpoints(), opts)
}

// WaitFor polls the running nodes' statuses until cond holds for them
// (it gets the statuses of the running nodes that answered).
func (c *Cluster) WaitFor(ctx context.Context, what string, cond func(map[uint64]api.Status) bool) error {
	for {
		sts := map[uint64]api.Status{}
		for _, n := range c.Nodes() {
			if !n.Running() {
				continue
			}
			if s, err := n.Status(ctx); err == nil {
				sts[n.ID] = s
			}
		}
		if cond(sts) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last statuses: %s)", what, ctx.Err(), brief(sts))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func brief(sts map[uint64]api.Status) string {
	s := ""
	for id, st := range sts {
		l := uint64(0)
		if st.Leader != nil {
			l = st.Leader.ID
		}
		s += fmt.Sprintf("[node %d %s term %d leader %d applied %d] ", id, st.Role, st.Term, l, st.Applied)
	}
	return s
}

// Leader waits until the running nodes agree on one leader (among except
// excluded) and returns it.
func (c *Cluster) Leader(ctx context.Context, exclude ...uint64) (*Node, error) {
	var leader uint64
	err := c.WaitFor(ctx, "a leader", func(sts map[uint64]api.Status) bool {
		leader = 0
		for _, st := range sts {
			if st.Role == "leader" {
				for _, x := range exclude {
					if st.NodeID == x {
						return false
					}
				}
				leader = st.NodeID
			}
		}
		if leader == 0 {
			return false
		}
		for _, st := range sts {
			if IsMember(st) && (st.Leader == nil || st.Leader.ID != leader) {
				return false
			}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	return c.Node(leader), nil
}

// IsMember reports whether a node's status lists itself as a member (a
// removed node does not, and takes no part in elections).
func IsMember(st api.Status) bool {
	for _, m := range st.Members {
		if m.ID == st.NodeID {
			return true
		}
	}
	return false
}

// CaughtUp waits until every running node applied at least index.
func (c *Cluster) CaughtUp(ctx context.Context, index uint64) error {
	return c.WaitFor(ctx, fmt.Sprintf("every node to apply index %d", index), func(sts map[uint64]api.Status) bool {
		for _, n := range c.Nodes() {
			if n.Running() && sts[n.ID].Applied < index {
				return false
			}
		}
		return true
	})
}

// Bootstrap starts nodes 1..n (already added), initializes node 1, adds
// the others as learners and makes them all voters.
func (c *Cluster) Bootstrap(ctx context.Context) error {
	nodes := c.Nodes()
	for _, n := range nodes {
		if err := n.Start(ctx); err != nil {
			return err
		}
	}
	cl := c.Client()
	defer cl.Close()
	if _, err := cl.Init(ctx, nodes[0].APIAddr); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	var ids []uint64
	for _, n := range nodes {
		ids = append(ids, n.ID)
		if n == nodes[0] {
			continue
		}
		if _, err := cl.AddLearner(ctx, n.ID, n.RaftAddr, n.APIAddr, true); err != nil {
			return fmt.Errorf("add-learner %d: %w", n.ID, err)
		}
	}
	st, err := cl.ChangeMembership(ctx, ids...)
	if err != nil {
		return fmt.Errorf("change-membership: %w", err)
	}
	// Settle: every node applies the final configuration. (The leader
	// tells followers a new commit index with its next message, so a
	// follower may not yet know that the joint configuration was left; a
	// fault injected now would leave it needing the old voters.)
	return c.CaughtUp(ctx, st.Commit)
}
