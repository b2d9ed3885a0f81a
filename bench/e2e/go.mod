module github.com/tickraft/raft/bench/e2e

go 1.26.0

replace github.com/tickraft/raft => ../..

replace github.com/tickraft/raft/examples/raftkv => ../../examples/raftkv
