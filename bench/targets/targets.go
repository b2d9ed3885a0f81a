// Package targets lists the implementations this module measures in one
// binary. etcd raft v3.6 is measured from a module of its own (../etcd36),
// since one build can link only one version of go.etcd.io/raft/v3.
package targets

import (
	"github.com/tickraft/raft/bench/impls/etcd"
	"github.com/tickraft/raft/bench/impls/hashicorp"
	"github.com/tickraft/raft/bench/impls/replica"
	"github.com/tickraft/raft/bench/impls/tickraft"
	"github.com/tickraft/raft/bench/suite"
)

// All returns the targets in the order the table shows them.
func All() []suite.Target {
	return named([]suite.Target{
		{Impl: tickraft.Impl{}, Settings: "default (lazy) commit propagation: a new commit index rides on the next append or heartbeat"},
		{Impl: tickraft.Impl{Eager: true}, Settings: "EagerCommitPropagation: a new commit index goes out at once, as etcd raft does"},
		{Impl: etcd.Impl{}, Settings: "protobuf-go (pointer) messages and entries"},
		{Name: replica.Name, Start: replica.Start, Settings: replica.Settings},
		{Name: hashicorp.Name, Start: hashicorp.Start, Settings: hashicorp.Settings},
	})
}

// named fills in the names of targets driven through an Impl.
func named(ts []suite.Target) []suite.Target {
	for i := range ts {
		if ts[i].Name == "" && ts[i].Impl != nil {
			ts[i].Name = ts[i].Impl.Name()
		}
	}
	return ts
}
