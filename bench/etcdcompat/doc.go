// Package etcdcompat checks that tickraft's raftpb and etcd raft's raftpb
// (go.etcd.io/raft/v3, the version bench/go.mod pins) encode the same
// values as the same bytes, so that the entries, hard states, snapshots and
// conf changes an etcd raft application persisted can be read by tickraft,
// and the reverse. It has only tests.
package etcdcompat
