// Command raftkv runs one node of a raftkv cluster: a replicated key-value
// store with an HTTP JSON API.
//
//	raftkv -id 1 -raft-addr 127.0.0.1:7001 -api-addr 127.0.0.1:8001 -data-dir /tmp/n1
//	curl -XPOST 127.0.0.1:8001/v1/admin/init
//
// SIGTERM or SIGINT drains the API and stops the node cleanly.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tickraft/raft/examples/raftkv/server"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "raftkv:", err)
		os.Exit(1)
	}
}

func run() error {
	var cfg server.Config
	var join, level, cert, key, ca string
	flag.Uint64Var(&cfg.NodeID, "id", 0, "node ID (required, not 0)")
	flag.Uint64Var(&cfg.ClusterID, "cluster-id", 1, "cluster ID: nodes and data dirs of other clusters are refused")
	flag.StringVar(&cfg.RaftAddr, "raft-addr", "127.0.0.1:7001", "raft transport address (listen and advertise)")
	flag.StringVar(&cfg.APIAddr, "api-addr", "127.0.0.1:8001", "HTTP API address (listen and advertise)")
	flag.StringVar(&cfg.ClientAddr, "client-addr", "", "binary client protocol address (listen and advertise; empty: HTTP API only)")
	flag.IntVar(&cfg.MaxClientConns, "max-client-conns", 1024, "connections the binary client protocol accepts")
	flag.StringVar(&cfg.DataDir, "data-dir", "", "data directory (required)")
	flag.StringVar(&cfg.StateMachine, "sm", "pebble", "state machine: memory or pebble")
	flag.StringVar(&join, "join", "", "comma-separated API addresses of members to ask to add this (empty) node as a learner")
	flag.BoolVar(&cfg.Forward, "forward", false, "forward writes received on a follower to the leader (default: answer not_leader)")
	flag.BoolVar(&cfg.LeaseReads, "lease-reads", false, "serve linearizable reads from the leader's lease (assumes equal clock rates)")
	flag.StringVar(&cert, "tls-cert", "", "TLS certificate file (enables TLS on the transport and the API)")
	flag.StringVar(&key, "tls-key", "", "TLS key file")
	flag.StringVar(&ca, "tls-ca", "", "CA file that signs every node's certificate (mutual TLS)")
	flag.StringVar(&level, "log-level", "info", "log level: debug, info, warn, error")
	flag.DurationVar(&cfg.TickInterval, "tick", 100*time.Millisecond, "raft tick interval")
	flag.IntVar(&cfg.ElectionTicks, "election-ticks", 10, "election timeout in ticks")
	flag.Int64Var(&cfg.SnapshotEntries, "snapshot-entries", 10000, "applied entries between snapshots")
	flag.Uint64Var(&cfg.CompactionTail, "compaction-tail", 5000, "entries kept in the log before a snapshot's index")
	flag.IntVar(&cfg.MaxValueSize, "max-value-size", 1<<20, "largest value accepted, in bytes")
	flag.BoolVar(&cfg.TestHooks, "test-hooks", false, "enable the /v1/test/ fault endpoints (tests only)")
	flag.BoolVar(&cfg.Pprof, "pprof", false, "serve /debug/pprof/ on the API address")
	flag.BoolVar(&cfg.UnsafeNoSync, "unsafe-no-sync", false, "skip fsync (loses acknowledged writes on a machine crash; benchmarks only)")
	flag.Parse()
	if err := applyTestHooks(&cfg); err != nil { // chaos tests only (testhooks.go)
		return err
	}

	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
	if join != "" {
		cfg.Join = strings.Split(join, ",")
	}
	if cert != "" {
		t, err := loadTLS(cert, key, ca)
		if err != nil {
			return err
		}
		cfg.TLS = t
	}
	s, err := server.New(cfg)
	if err != nil {
		return err
	}
	cfg.Logger.Info("raftkv serving", "node", cfg.NodeID, "raft", s.RaftAddr(), "api", s.APIAddr(), "client", s.ClientAddr(), "sm", cfg.StateMachine, "data", cfg.DataDir)
	errc := make(chan error, 1)
	go func() { errc <- s.Serve() }()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	var failure error
	for {
		select {
		case got := <-sig:
			cfg.Logger.Info("draining", "signal", got.String())
		case err := <-errc:
			if !errors.Is(err, http.ErrServerClosed) {
				failure = err
			}
		case <-s.Done():
			failure = errors.New("the replica stopped on a failure")
		case <-s.Removed():
			cfg.Logger.Warn("this node was removed from the cluster: shutting down; its data dir must not be used to start it again", "data", cfg.DataDir)
		case <-time.After(time.Second):
			continue // the replica may have started since: watch its Done
		}
		break
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil && failure == nil {
		failure = err
	}
	if failure == nil {
		cfg.Logger.Info("stopped cleanly")
	}
	return failure
}

func loadTLS(cert, key, ca string) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, err
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		return nil, fmt.Errorf("-tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("-tls-ca: no certificate found")
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}, nil
}
