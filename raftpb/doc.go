// Package raftpb holds tickraft's wire and storage types: log entries,
// messages exchanged between peers, the persisted hard state, snapshots and
// membership records. The types are generated from raft.proto with
// protoc-gen-go (make proto); the files in this package that are not
// generated add helpers on top of them.
//
// # Passing by pointer
//
// protobuf-go structs carry internal state and must never be copied by
// value (go vet reports such copies). Throughout tickraft, messages,
// entries, snapshots, hard states and conf states are therefore passed and
// stored as pointers (*Message, []*Entry, *Snapshot, ...).
//
// # Sharing entries
//
// An Entry is immutable once it has been created: no code may change its
// fields or the bytes of its Data afterwards. This is what allows one
// *Entry to sit in the unstable log, in outgoing messages and in storage at
// the same time without being cloned.
//
// # Descriptions
//
// The String methods of the generated types use the protobuf text format,
// whose exact output protobuf-go deliberately varies between builds and
// versions, so it must not be compared or parsed. Tests and logs
// should use the Describe* functions of this package instead, which produce
// short, stable, one-line descriptions.
package raftpb
