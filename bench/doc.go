// Package bench compares tickraft with etcd raft (go.etcd.io/raft/v3) on
// the same in-process cluster driver. It is a module of its own, so users
// of tickraft never inherit etcd raft.
//
// The workloads run as sub-benchmarks named for benchstat:
//
//	go test -run '^$' -bench . -count 6 | tee new.txt
//	benchstat -col /impl new.txt
//
// and as a table of medians with cmd/raftbench. See README.md.
package bench
