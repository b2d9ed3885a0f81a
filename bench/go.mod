module github.com/tickraft/raft/bench

go 1.26

require (
	github.com/tickraft/raft v0.0.0
	go.etcd.io/raft/v3 v3.7.0
)

require google.golang.org/protobuf v1.36.12

replace github.com/tickraft/raft => ../
