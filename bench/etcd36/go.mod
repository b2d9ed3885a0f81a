module github.com/tickraft/raft/bench/etcd36

go 1.26.0

require (
	github.com/tickraft/raft/bench v0.0.0
	go.etcd.io/raft/v3 v3.7.0
)

require (
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/golang/protobuf v1.5.4 // indirect
	github.com/google/pprof v0.0.0-20261105003125-4bf881d7fb0b // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace (
	github.com/tickraft/raft => ../../
	github.com/tickraft/raft/bench => ../
	// The bench module links v3.7.0; every build of this module uses
	// v3.6.0 instead. Only the driver and suite packages of the bench
	// module are imported here, none that uses etcd raft.
	go.etcd.io/raft/v3 => go.etcd.io/raft/v3 v3.6.0
)
