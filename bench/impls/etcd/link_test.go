package etcd

import (
	"testing"

	tpb "github.com/tickraft/raft/raftpb"
	epb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// TestBothLibrariesLink runs in a binary holding both raftpb packages with
// protobuf-go's default registration policy, which panics at start-up on a
// conflicting message name or file path: that it runs at all is the check.
// The assertions say why it must keep working.
func TestBothLibrariesLink(t *testing.T) {
	tfile := (&tpb.Message{}).ProtoReflect().Descriptor().ParentFile().Path()
	efile := (&epb.Message{}).ProtoReflect().Descriptor().ParentFile().Path()
	if tfile == efile {
		t.Fatalf("both libraries register their proto file as %q", tfile)
	}
	seen := map[string]int{}
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		seen[fd.Path()]++
		return true
	})
	for path, n := range seen {
		if n > 1 {
			t.Errorf("proto file %q registered %d times", path, n)
		}
	}
}
