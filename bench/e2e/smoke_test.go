package main

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestSmoke drives each system whose binary is present (etcd on $PATH;
// raftkv from $RAFTKV_BIN, since building it here would slow make test) for
// a fraction of a second and checks that puts succeed and reach the disk:
// every member fsyncs its wal, and the members' CPU was counted.
func TestSmoke(t *testing.T) {
	starters := map[string]func(ctx context.Context, dir string) (*system, error){}
	if bin, err := exec.LookPath("etcd"); err == nil {
		starters["etcd"] = func(ctx context.Context, dir string) (*system, error) { return startEtcd(ctx, bin, dir, nil) }
	}
	if bin := os.Getenv("RAFTKV_BIN"); bin != "" {
		starters["raftkv"] = func(ctx context.Context, dir string) (*system, error) { return startRaftkv(ctx, bin, dir, nil, true) }
		starters["raftkv-http"] = func(ctx context.Context, dir string) (*system, error) { return startRaftkv(ctx, bin, dir, nil, false) }
	}
	if len(starters) == 0 {
		t.Skip("neither etcd on $PATH nor $RAFTKV_BIN set")
	}
	for name, start := range starters {
		t.Run(name, func(t *testing.T) {
			s, err := start(context.Background(), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer s.stop()
			cfg := config{warmup: 100 * time.Millisecond, duration: 300 * time.Millisecond, keys: 1000, maxConns: 2}
			r, err := measure(context.Background(), s, workload{clients: 2, value: 16}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if r.ops <= 0 || r.p50 <= 0 {
				t.Fatalf("no puts measured: %+v", r)
			}
			for i, f := range r.fsyncPer {
				if f <= 0 {
					t.Errorf("member %d did not fsync its wal during puts: %+v", i, r)
				}
			}
			var cpu time.Duration
			for _, c := range r.cpuPerOp {
				cpu += c
			}
			if cpu <= 0 {
				t.Errorf("members' CPU not counted: %+v", r)
			}
		})
	}
}
