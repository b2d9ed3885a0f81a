// Package walbench measures tickraft's wal side by side with etcd's wal
// (go.etcd.io/etcd/server/v3/storage/wal) and with the raw limit of the
// disk, on the same batches. It lives in the bench module so the library
// never depends on etcd. Run it with
//
//	cd bench && go test ./walbench/ -run '^$' -bench . -count 5
package walbench
