// Package walbench measures tickraft's wal side by side with etcd's wal
// (go.etcd.io/etcd/server/v3/storage/wal) and with the raw limit of the
// disk, on the same batches. It lives in the bench module so the library
// never depends on etcd. Run it with
//
//	cd bench && go test ./walbench/ -run '^$' -bench WAL -benchtime 400x -count 3
//
// BenchmarkDisk (Linux) takes the disk's write + fdatasync apart: the page
// cache copy, the device's transfer, the cache flush, what a second device
// request adds, and how much CPU work the device absorbs once a write-back
// is started early; the wal's design choices rest on these figures.
package walbench
