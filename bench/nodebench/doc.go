// Package nodebench measures tickraft's replica runtime side by side with
// etcd raft's Node (go.etcd.io/raft/v3) on one workload, in one run: three
// nodes in one process on MemoryStorage, 1, 64 or 256 concurrent proposers,
// a put returning once applied on the leader. etcd's nodes talk over an
// in-process channel transport; the replicas over transport.MemNetwork
// (which copies each message) and over direct delivery (which does not,
// like the channels given to etcd). It lives in the bench module so the
// library never depends on etcd. Run it with
//
//	cd bench && go test ./nodebench/ -run '^$' -bench . -count 5 | tee out.txt
//	benchstat -col /impl out.txt
package nodebench
