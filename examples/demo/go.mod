module github.com/tickraft/raft/examples/demo

go 1.25.0

require github.com/tickraft/raft v0.0.0

require google.golang.org/protobuf v1.36.12 // indirect

replace github.com/tickraft/raft => ../..
