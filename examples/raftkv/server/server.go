// Package server is a raftkv node: a replica (wal, TCP transport, a kv
// state machine) behind an HTTP JSON API with admin calls, Prometheus
// metrics and a status page.
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickraft/raft/examples/raftkv/kv"
	"github.com/tickraft/raft/replica"
	"github.com/tickraft/raft/transport"
	"github.com/tickraft/raft/vfs"
	"github.com/tickraft/raft/wal"
)

// Config configures a node. Zero fields get the defaults named.
type Config struct {
	NodeID    uint64
	ClusterID uint64 // every node of a cluster and its data dir agree on it (default 1)
	// RaftAddr is where the transport listens and what peers dial;
	// APIAddr is where the HTTP API listens (and what clients are sent to).
	RaftAddr, APIAddr string
	DataDir           string
	StateMachine      string // "memory" or "pebble" (default)
	// Join lists API addresses of cluster members: an empty node asks them
	// to add it as a learner.
	Join []string
	// Forward makes a follower forward writes to the leader instead of
	// answering not_leader.
	Forward bool
	// LeaseReads makes linearizable reads use the leader's lease
	// (replica.ReadLeaseBased) on this node.
	LeaseReads bool
	// TLS, when set, secures both the raft transport (mutual TLS) and the
	// API (HTTPS).
	TLS *tls.Config

	TickInterval    time.Duration // default 100ms
	ElectionTicks   int           // default 10
	SnapshotEntries int64         // default 10000
	CompactionTail  uint64        // default 5000
	MaxSessions     int           // default kv.DefaultMaxSessions

	MaxKeySize   int   // default 4 KiB
	MaxValueSize int   // default 1 MiB
	MaxBodySize  int64 // default 2 MiB

	// FS is the file system of the wal and the snapshot store (tests inject
	// faults); nil: the OS.
	FS vfs.FS
	// UnsafeNoSync turns the wal's fsyncs off (benchmarks of the rest only).
	UnsafeNoSync bool
	// TestHooks enables the /v1/test/ endpoints (message dropping, disk
	// failure).
	TestHooks bool
	// Pprof serves net/http/pprof under /debug/pprof/ on the API address.
	Pprof bool

	// ClientAddr, when set, is where the binary client protocol (package
	// wire) listens and what its clients are redirected to.
	ClientAddr string
	// MaxClientConns bounds the binary protocol's connections (default
	// 1024); MaxInflightPerConn the calls one connection has in flight
	// (default 1024).
	MaxClientConns, MaxInflightPerConn int

	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.ClusterID == 0 {
		c.ClusterID = 1
	}
	if c.StateMachine == "" {
		c.StateMachine = "pebble"
	}
	if c.MaxKeySize == 0 {
		c.MaxKeySize = 4 << 10
	}
	if c.MaxValueSize == 0 {
		c.MaxValueSize = 1 << 20
	}
	if c.MaxBodySize == 0 {
		c.MaxBodySize = 2<<20 + int64(c.MaxKeySize)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.TickInterval == 0 {
		c.TickInterval = 100 * time.Millisecond
	}
}

// Server is one raftkv node.
type Server struct {
	cfg    Config
	logger *slog.Logger
	wal    *wal.WAL
	sm     kv.StateMachine
	gate   *gate
	snaps  *replica.DirSnapshots
	http   *http.Server
	apiLn  net.Listener
	cp     *clientProto // nil without Config.ClientAddr
	met    *metrics
	start  time.Time

	// mu guards r (nil until the replica starts: an empty node waits for
	// init or for a leader to add it).
	mu sync.Mutex
	r  *replica.Replica

	leaders leaderLog
	// client talks to the other nodes' APIs (forwarding, joining).
	clientOnce sync.Once
	client     *http.Client
	// diskFail, with TestHooks, makes the wal's writes and syncs fail.
	diskFail atomic.Bool
	stopc    chan struct{}
	wg       sync.WaitGroup
}

// identity is what a data dir belongs to.
type identity struct {
	ClusterID uint64 `json:"cluster_id"`
	NodeID    uint64 `json:"node_id"`
}

// ErrWrongCluster: the data dir belongs to another cluster or node.
var ErrWrongCluster = errors.New("server: data dir belongs to another cluster or node")

// New opens a node's data dir, starts its transport and API listener, and
// starts its replica if the log holds state (a restart). Serve the API
// with Run.
func New(cfg Config) (*Server, error) {
	cfg.defaults()
	if cfg.NodeID == 0 || cfg.DataDir == "" || cfg.RaftAddr == "" || cfg.APIAddr == "" {
		return nil, errors.New("server: node id, data dir, raft address and API address are required")
	}
	if cfg.StateMachine != "memory" && cfg.StateMachine != "pebble" {
		return nil, fmt.Errorf("server: unknown state machine %q (memory or pebble)", cfg.StateMachine)
	}
	s := &Server{cfg: cfg, logger: cfg.Logger.With(slog.Uint64("node", cfg.NodeID)), stopc: make(chan struct{}), start: time.Now()}
	if err := s.checkIdentity(); err != nil {
		return nil, err
	}
	if cfg.TestHooks {
		base := cfg.FS
		if base == nil {
			base = vfs.Default
		}
		cfg.FS = failFS{FS: base, fail: &s.diskFail}
		s.cfg.FS = cfg.FS
	}
	ok := false
	defer func() {
		if !ok {
			s.closeStorage()
		}
	}()
	var err error
	if s.wal, err = wal.Open(filepath.Join(cfg.DataDir, "wal"), wal.Options{FS: cfg.FS, Logger: s.logger, UnsafeNoSync: cfg.UnsafeNoSync}); err != nil {
		return nil, fmt.Errorf("server: opening the wal: %w", err)
	}
	if s.snaps, err = replica.NewDirSnapshots(cfg.FS, filepath.Join(cfg.DataDir, "snap")); err != nil {
		return nil, err
	}
	if cfg.StateMachine == "pebble" {
		s.sm, err = kv.OpenPebble(filepath.Join(cfg.DataDir, "pebble"), kv.PebbleOptions{MaxSessions: cfg.MaxSessions, Logger: s.logger})
	} else {
		s.sm = kv.NewMemory(cfg.MaxSessions)
	}
	if err != nil {
		return nil, err
	}
	tmp := filepath.Join(cfg.DataDir, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, err
	}
	tcp, err := transport.NewTCP(transport.TCPConfig{ID: cfg.NodeID, ClusterID: cfg.ClusterID, ListenAddr: cfg.RaftAddr, TLS: cloneTLS(cfg.TLS), SnapshotDir: tmp, Logger: s.logger})
	if err != nil {
		return nil, fmt.Errorf("server: raft transport: %w", err)
	}
	s.gate = &gate{tcp: tcp, start: s.startJoiner}
	if err := tcp.Start(s.gate); err != nil {
		tcp.Close()
		return nil, err
	}
	if s.apiLn, err = net.Listen("tcp", cfg.APIAddr); err != nil {
		tcp.Close()
		return nil, fmt.Errorf("server: API listener: %w", err)
	}
	if err := s.listenClients(); err != nil {
		s.apiLn.Close()
		tcp.Close()
		return nil, err
	}
	s.met = newMetrics(s)
	s.http = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	if cfg.TLS != nil {
		// Each user gets its own copy: the HTTP server adds its ALPN
		// protocols to the config it is given.
		s.http.TLSConfig = cfg.TLS.Clone()
	}
	if s.hasState() {
		// errStarted: a leader's message got here first and started it
		// (startJoiner), from the same state.
		if err := s.startReplica(nil); err != nil && !errors.Is(err, errStarted) {
			s.closeClientListener()
			s.apiLn.Close()
			tcp.Close()
			return nil, err
		}
	}
	ok = true
	return s, nil
}

func (s *Server) checkIdentity() error {
	if err := os.MkdirAll(s.cfg.DataDir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(s.cfg.DataDir, "identity.json")
	want := identity{ClusterID: s.cfg.ClusterID, NodeID: s.cfg.NodeID}
	b, err := os.ReadFile(path)
	if err == nil {
		var got identity
		if err := json.Unmarshal(b, &got); err != nil {
			return fmt.Errorf("server: %s: %w", path, err)
		}
		if got != want {
			return fmt.Errorf("%w: %s holds cluster %d node %d, this node is cluster %d node %d",
				ErrWrongCluster, s.cfg.DataDir, got.ClusterID, got.NodeID, want.ClusterID, want.NodeID)
		}
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if ents, _ := os.ReadDir(filepath.Join(s.cfg.DataDir, "wal")); len(ents) > 0 {
		return fmt.Errorf("%w: %s has a wal but no identity.json", ErrWrongCluster, s.cfg.DataDir)
	}
	b, _ = json.Marshal(want)
	return writeFileSync(path, b)
}

func cloneTLS(c *tls.Config) *tls.Config {
	if c == nil {
		return nil
	}
	return c.Clone()
}

func writeFileSync(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		var d *os.File
		if d, err = os.Open(filepath.Dir(path)); err == nil {
			err = d.Sync()
			d.Close()
		}
	}
	return err
}

func (s *Server) hasState() bool {
	last, _ := s.wal.LastIndex()
	hs, _, _ := s.wal.InitialState()
	snap, _ := s.wal.Snapshot()
	return last > 0 || hs.GetTerm() > 0 || snap.GetMetadata().GetIndex() > 0
}

// replica returns the running replica, or nil before it started.
func (s *Server) replica() *replica.Replica {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r
}

// startJoiner starts the replica of an empty node on the first message
// from a cluster that added it.
func (s *Server) startJoiner() {
	if err := s.startReplica(nil); err != nil && !errors.Is(err, errStarted) {
		s.logger.Error("starting the replica", slog.Any("error", err))
	}
}

var errStarted = errors.New("server: replica already started")

// startReplica starts the replica, founding a cluster with bootstrap when
// it is set (init).
func (s *Server) startReplica(bootstrap []replica.Member) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.r != nil {
		return errStarted
	}
	rc := replica.Config{
		ID: s.cfg.NodeID, Bootstrap: bootstrap,
		TickInterval: s.cfg.TickInterval, ElectionTicks: s.cfg.ElectionTicks,
		SnapshotEntries: s.cfg.SnapshotEntries, CompactionTail: s.cfg.CompactionTail,
		Snapshots: s.snaps, Logger: s.logger,
	}
	if s.cfg.LeaseReads {
		rc.ReadMode = replica.ReadLeaseBased
	}
	if s.cfg.Forward {
		rc.Forward = s.forward
	}
	r, err := replica.Start(rc, replica.WAL(s.wal), s.sm, s.gate)
	if err != nil {
		return err
	}
	s.r = r
	s.wg.Add(2)
	go s.watchLeader(r)
	go s.registerSelf(r)
	s.logger.Info("replica started", slog.Bool("founding", len(bootstrap) > 0))
	return nil
}

// registerSelf records this node's API address in the replicated state
// (so others can send clients here) once a leader is known, and again
// whenever it changed since it was recorded.
func (s *Server) registerSelf(r *replica.Replica) {
	defer s.wg.Done()
	self := nodeRecord(s.APIAddr(), s.ClientAddr())
	req := kv.Request{Op: kv.OpSetNode, Version: s.cfg.NodeID, Value: []byte(self)}
	cmd := req.Encode(nil)
	for s.sm.Nodes()[s.cfg.NodeID] != self {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := r.Propose(ctx, cmd)
		var nl *replica.NotLeaderError
		if errors.As(err, &nl) && nl.LeaderID != 0 {
			// Applied on the leader; this node sees it once it catches up.
			_, err = s.forward(ctx, replica.Member{ID: nl.LeaderID, Addr: nl.LeaderAddr}, cmd)
		} else if err == nil {
			cancel()
			continue
		}
		cancel()
		if err != nil {
			s.logger.Debug("recording the API address", slog.Any("error", err))
		}
		select {
		case <-s.stopc:
			return
		case <-r.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Serve serves the API until Shutdown (it returns http.ErrServerClosed
// then), and joins the cluster named by Config.Join when the node is
// empty.
func (s *Server) Serve() error {
	if len(s.cfg.Join) > 0 && s.replica() == nil {
		s.wg.Add(1)
		go s.join()
	}
	s.serveClients()
	if s.cfg.TLS != nil {
		return s.http.ServeTLS(s.apiLn, "", "")
	}
	return s.http.Serve(s.apiLn)
}

// APIAddr is the API address given in the config, which others are told
// to reach this node at (the listener's address when the port was 0).
func (s *Server) APIAddr() string { return advertised(s.cfg.APIAddr, s.apiLn.Addr()) }

// RaftAddr is the raft address peers are told to reach this node at.
func (s *Server) RaftAddr() string { return advertised(s.cfg.RaftAddr, s.gate.tcp.Addr()) }

func advertised(configured string, actual net.Addr) string {
	if _, port, err := net.SplitHostPort(configured); err == nil && port != "0" {
		return configured
	}
	return actual.String()
}

// Removed is closed once this node applied its own removal from the
// cluster (see replica.Replica.Removed), or never, before it starts.
func (s *Server) Removed() <-chan struct{} {
	if r := s.replica(); r != nil {
		return r.Removed()
	}
	return nil
}

// Done is closed when the replica stopped on a failure (or never, before
// it starts).
func (s *Server) Done() <-chan struct{} {
	if r := s.replica(); r != nil {
		return r.Done()
	}
	return nil
}

// Shutdown drains: the API stops taking requests and finishes those in
// flight, the replica finishes its proposals and stops, and the storage is
// closed.
func (s *Server) Shutdown(ctx context.Context) error {
	close(s.stopc)
	cerr := s.drainClients(ctx)
	herr := s.http.Shutdown(ctx)
	var rerr error
	if r := s.replica(); r != nil {
		rerr = r.Stop(ctx)
	} else {
		s.gate.Close()
	}
	s.wg.Wait()
	s.closeStorage()
	return errors.Join(cerr, herr, rerr)
}

func (s *Server) closeStorage() {
	if s.sm != nil {
		if err := s.sm.Close(); err != nil {
			s.logger.Error("closing the state machine", slog.Any("error", err))
		}
	}
	if s.wal != nil {
		s.wal.Close()
	}
}
