package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tickraft/raft/examples/raftkv/client"
	lt "github.com/tickraft/raft/internal/lattrace"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// kvClient is one system's client: put and linearizable get.
type kvClient interface {
	put(ctx context.Context, key, value string) error
	get(ctx context.Context, key string) error
	close()
}

// system is a started 3-process cluster.
type system struct {
	name     string
	pids     []int                    // member processes
	metrics  []string                 // per member: its /metrics URL
	fsyncKey string                   // sample counting wal fsyncs
	leader   int                      // index of the leader member
	newCl    func() (kvClient, error) // a client sending to the leader
	procs    []*exec.Cmd
}

func (s *system) stop() {
	for _, p := range s.procs {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range s.procs {
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
}

func startProc(dir, name string, bin string, args ...string) (*exec.Cmd, error) {
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	return cmd, nil
}

// startRaftkv starts three raftkv processes with wal fsync on and the
// pebble state machine, and bootstraps them into one cluster. Its clients
// use the binary client protocol when binaryProto is set, else the HTTP
// API.
func startRaftkv(ctx context.Context, bin, dir string, extra []string, binaryProto bool) (*system, error) {
	s := &system{name: "raftkv-http", fsyncKey: "etcd_disk_wal_fsync_duration_seconds_count"}
	if binaryProto {
		s.name = "raftkv"
	}
	var apis []string
	type node struct{ raft, api, client string }
	var nodes []node
	for range 3 {
		var addrs [3]string
		for i := range addrs {
			a, err := freeAddr()
			if err != nil {
				return nil, err
			}
			addrs[i] = a
		}
		nodes = append(nodes, node{addrs[0], addrs[1], addrs[2]})
		apis = append(apis, addrs[1])
	}
	for i, n := range nodes {
		args := append([]string{"-id", fmt.Sprint(i + 1), "-raft-addr", n.raft, "-api-addr", n.api, "-client-addr", n.client,
			"-data-dir", filepath.Join(dir, fmt.Sprintf("raftkv%d", i+1)), "-sm", "pebble", "-log-level", "warn",
			// etcd's --snapshot-count default: both snapshot as often.
			"-snapshot-entries", "100000"}, extra...)
		cmd, err := startProc(dir, fmt.Sprintf("raftkv%d", i+1), bin, args...)
		if err != nil {
			s.stop()
			return nil, err
		}
		s.procs = append(s.procs, cmd)
		s.pids = append(s.pids, cmd.Process.Pid)
		s.metrics = append(s.metrics, "http://"+n.api+"/metrics")
	}
	if err := bootstrapRaftkv(ctx, nodes[0].api, apis, func(i int) (string, string) { return nodes[i].raft, nodes[i].api }); err != nil {
		s.stop()
		return nil, err
	}
	s.leader = 0
	leader := apis[0]
	opts := client.Options{}
	if binaryProto {
		opts.ClientAddrs = []string{nodes[0].client}
	}
	s.newCl = func() (kvClient, error) {
		return raftkvClient{client.New([]string{leader}, opts)}, nil
	}
	return s, nil
}

func bootstrapRaftkv(ctx context.Context, first string, apis []string, addr func(int) (string, string)) error {
	cl := client.New(apis, client.Options{AttemptTimeout: 2 * time.Second})
	defer cl.Close()
	for _, a := range apis {
		if err := waitFor(ctx, func() error { _, err := cl.Status(ctx, a); return err }); err != nil {
			return fmt.Errorf("raftkv %s did not start: %w", a, err)
		}
	}
	if _, err := cl.Init(ctx, first); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	for i := 1; i < len(apis); i++ {
		r, a := addr(i)
		if _, err := cl.AddLearner(ctx, uint64(i+1), r, a, true); err != nil {
			return fmt.Errorf("add-learner %d: %w", i+1, err)
		}
	}
	if _, err := cl.ChangeMembership(ctx, 1, 2, 3); err != nil {
		return fmt.Errorf("change-membership: %w", err)
	}
	return nil
}

func waitFor(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type raftkvClient struct{ c *client.Client }

func (r raftkvClient) put(ctx context.Context, k, v string) error {
	lt.Mark(lt.CCall, 0)
	_, err := r.c.Put(ctx, k, v)
	lt.Mark(lt.CDone, 0)
	return err
}

func (r raftkvClient) get(ctx context.Context, k string) error {
	_, err := r.c.Get(ctx, k, "")
	if client.IsNotFound(err) {
		return nil
	}
	return err
}

func (r raftkvClient) close() { r.c.Close() }

// startEtcd starts a three-member etcd cluster (its default settings:
// fsync on, heartbeat 100 ms, election 1000 ms) and finds its leader.
func startEtcd(ctx context.Context, bin, dir string, extra []string) (*system, error) {
	s := &system{name: "etcd", fsyncKey: "etcd_disk_wal_fsync_duration_seconds_count"}
	var peers, clients, initial []string
	for i := range 3 {
		p, err := freeAddr()
		if err != nil {
			return nil, err
		}
		c, err := freeAddr()
		if err != nil {
			return nil, err
		}
		peers, clients = append(peers, "http://"+p), append(clients, "http://"+c)
		initial = append(initial, fmt.Sprintf("e%d=http://%s", i+1, p))
	}
	for i := range 3 {
		args := append([]string{"--name", fmt.Sprintf("e%d", i+1),
			"--data-dir", filepath.Join(dir, fmt.Sprintf("etcd%d", i+1)),
			"--listen-peer-urls", peers[i], "--initial-advertise-peer-urls", peers[i],
			"--listen-client-urls", clients[i], "--advertise-client-urls", clients[i],
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "bench-e2e", "--log-level", "warn", "--logger", "zap"}, extra...)
		cmd, err := startProc(dir, fmt.Sprintf("etcd%d", i+1), bin, args...)
		if err != nil {
			s.stop()
			return nil, err
		}
		s.procs = append(s.procs, cmd)
		s.pids = append(s.pids, cmd.Process.Pid)
		s.metrics = append(s.metrics, clients[i]+"/metrics")
	}
	cl, err := clientv3.New(clientv3.Config{Endpoints: clients, DialTimeout: 5 * time.Second})
	if err != nil {
		s.stop()
		return nil, err
	}
	defer cl.Close()
	s.leader = -1
	err = waitFor(ctx, func() error {
		for i, c := range clients {
			st, err := cl.Status(ctx, c)
			if err != nil {
				return err
			}
			if st.Leader != 0 && st.Leader == st.Header.MemberId {
				s.leader = i
				return nil
			}
		}
		return fmt.Errorf("no leader yet")
	})
	if err != nil {
		s.stop()
		return nil, err
	}
	leader := clients[s.leader]
	s.newCl = func() (kvClient, error) {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{leader}, DialTimeout: 5 * time.Second})
		if err != nil {
			return nil, err
		}
		return etcdClient{c}, nil
	}
	return s, nil
}

type etcdClient struct{ c *clientv3.Client }

func (e etcdClient) put(ctx context.Context, k, v string) error {
	_, err := e.c.Put(ctx, k, v)
	return err
}

func (e etcdClient) get(ctx context.Context, k string) error {
	_, err := e.c.Get(ctx, k) // linearizable by default
	return err
}

func (e etcdClient) close() { _ = e.c.Close() }
