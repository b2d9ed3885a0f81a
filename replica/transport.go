package replica

import (
	"io"

	pb "github.com/tickraft/raft/raftpb"
)

// Handler is what a Transport delivers to; the replica implements it.
type Handler interface {
	HandleMessage(m *pb.Message)
	HandleSnapshot(m *pb.Message, data io.Reader, size int64) error
	ReportUnreachable(id uint64)
	ReportSnapshot(id uint64, err error)
}

// Transport carries raft messages between replicas (see package
// transport). Start is called by replica.Start with the replica as the
// handler; Close is called by Stop.
type Transport interface {
	Start(h Handler) error
	Send(msgs []*pb.Message)
	SendSnapshot(m *pb.Message, data io.ReadCloser, size int64)
	AddPeer(id uint64, addr string) error
	RemovePeer(id uint64)
	Close() error
}
