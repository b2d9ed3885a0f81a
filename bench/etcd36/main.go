// Command etcd36 measures etcd raft v3.6.0 for raftbench, one run per
// process: raftbench starts it with suite.ChildArgs and reads the result
// from its standard output. It is a module of its own because one build
// links only one version of go.etcd.io/raft/v3, and the bench module links
// v3.7.0.
package main

import (
	"os"

	"github.com/tickraft/raft/bench/etcd36/impl"
	"github.com/tickraft/raft/bench/suite"
)

// Settings say how this target differs from the common settings.
const Settings = "gogo-protobuf (value) messages and entries"

func main() {
	suite.ChildMain([]suite.Target{{Name: impl.Impl{}.Name(), Impl: impl.Impl{}, Settings: Settings}}, os.Args[1:])
}
