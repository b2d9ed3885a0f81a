package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	line := "1234 (a (weird) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0"
	got, err := parseStatCPU(line)
	if err != nil || got != 3*time.Second {
		t.Fatalf("got %v, %v; want 3s", got, err)
	}
	if _, err := parseStatCPU("garbage"); err == nil {
		t.Fatal("garbage parsed")
	}
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
}

func TestFindSample(t *testing.T) {
	page := `# HELP x
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.001"} 3
etcd_disk_wal_fsync_duration_seconds_count 42
etcd_disk_wal_fsync_duration_seconds_count_other 7
`
	v, err := findSample(strings.NewReader(page), "etcd_disk_wal_fsync_duration_seconds_count")
	if err != nil || v != 42 {
		t.Fatalf("got %v, %v", v, err)
	}
	if _, err := findSample(strings.NewReader(page), "missing"); err == nil {
		t.Fatal("missing sample found")
	}
}

func TestParseIOSyscalls(t *testing.T) {
	n, err := parseIOSyscalls("rchar: 10\nwchar: 20\nsyscr: 7\nsyscw: 5\nread_bytes: 0\n")
	if err != nil || n != 12 {
		t.Fatalf("got %d, %v; want 12", n, err)
	}
	if _, err := parseIOSyscalls("rchar: 10\nsyscr: 7\n"); err == nil {
		t.Fatal("a missing syscw was accepted")
	}
}
