// Command raftkv-chaos runs a seeded fault campaign against a cluster of
// real raftkv processes on loopback and checks what its clients saw (see
// package chaos). It exits 1 when a check fails, leaving the seed, the
// schedule, the history, porcupine's visualization and the server logs in
// one directory.
//
//	raftkv-chaos -seed 7 -duration 10m
//	raftkv-chaos -recheck /tmp/raftkv-chaos-seed7-123
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tickraft/raft/examples/raftkv/chaos"
)

func main() {
	var cfg chaos.Config
	var faults, recheck, skews string
	flag.Uint64Var(&cfg.Seed, "seed", uint64(time.Now().UnixNano()%1e6), "seed of the nemesis schedule and the clients")
	flag.DurationVar(&cfg.Duration, "duration", time.Minute, "length of the fault campaign")
	flag.IntVar(&cfg.Nodes, "nodes", 3, "cluster size (3 or 5)")
	flag.IntVar(&cfg.Workers, "workers", 8, "concurrent clients")
	flag.IntVar(&cfg.Keys, "keys", 8, "size of the key set")
	flag.StringVar(&cfg.SM, "sm", "pebble", "state machine: pebble or memory")
	flag.BoolVar(&cfg.LeaseReads, "lease-reads", false, "nodes serve reads from the leader's lease")
	flag.StringVar(&faults, "faults", strings.Join(chaos.AllFaults, ","), "fault kinds, comma-separated")
	flag.StringVar(&skews, "skews", "", "tick interval factors of the skew fault, comma-separated (default: within the lease's documented bound)")
	flag.StringVar(&cfg.Dir, "dir", "", "where to make the run's directory (default the temp dir)")
	flag.StringVar(&cfg.Tags, "tags", "", "build tags of the raftkv binary (chaosbugs: planted bugs)")
	flag.StringVar(&cfg.PlantedBug, "planted-bug", "", "with -tags chaosbugs: stale-reads or ack-before-fsync")
	flag.IntVar(&cfg.SnapshotEntries, "snapshot-entries", 500, "the nodes' -snapshot-entries")
	flag.DurationVar(&cfg.Tick, "tick", 50*time.Millisecond, "raft tick interval of the nodes")
	flag.BoolVar(&cfg.Keep, "keep", false, "keep the run's directory even when it passed")
	flag.StringVar(&recheck, "recheck", "", "check the history saved in this run directory again (no cluster)")
	flag.Parse()
	if recheck != "" {
		os.Exit(recheckDir(recheck))
	}
	cfg.Faults = strings.Split(faults, ",")
	for _, f := range strings.Split(skews, ",") {
		if f == "" {
			continue
		}
		x, err := strconv.ParseFloat(f, 64)
		if err != nil {
			log.Fatalf("-skews: %v", err)
		}
		cfg.Skews = append(cfg.Skews, x)
	}
	cfg.Logf = log.Printf
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := chaos.Run(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Summary())
	if res.Failed() {
		for _, v := range res.Violations {
			fmt.Println("  violation:", v)
		}
		replay, _ := os.ReadFile(filepath.Join(res.Dir, "REPLAY"))
		fmt.Printf("everything is in %s\nreplay: %s", res.Dir, replay)
		os.Exit(1)
	}
}

func recheckDir(dir string) int {
	var ops []chaos.Op
	var res chaos.Result
	for name, v := range map[string]any{"history.json": &ops, "result.json": &res} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			err = json.Unmarshal(b, v)
		}
		if err != nil {
			log.Printf("%s: %v", name, err)
			return 2
		}
	}
	keys := map[string]bool{}
	for _, op := range ops {
		keys[op.In.Key] = true
	}
	var ks []string
	for k := range keys {
		ks = append(ks, k)
	}
	failed := false
	lin := chaos.CheckLinearizable(ops, res.Nodes, ks, 10*time.Minute, false)
	fmt.Printf("linearizable: %s (%d ops, %v)\n", lin.Result, lin.Ops, lin.Duration)
	failed = lin.Result != "Ok"
	if failed {
		// Which keys: each alone.
		for _, k := range ks {
			var part []chaos.Op
			for _, op := range ops {
				if op.In.Key == k {
					part = append(part, op)
				}
			}
			r := chaos.CheckLinearizable(part, res.Nodes, []string{k}, 5*time.Minute, false)
			fmt.Printf("  key %s: %s (%d ops)\n", k, r.Result, r.Ops)
		}
	}
	if err := chaos.CheckConverged(res.Nodes); err != nil {
		fmt.Println("converged:", err)
		failed = true
	}
	n, errs := chaos.CheckAcknowledged(ops, res.Nodes)
	fmt.Printf("acknowledged writes verified: %d, lost: %d\n", n, len(errs))
	for _, e := range append(errs, chaos.CheckExactlyOnce(ops, res.Nodes)...) {
		fmt.Println(" ", e)
		failed = true
	}
	if failed {
		return 1
	}
	return 0
}
