package raftpb

// UnknownBytes returns the fields of the entry that this version of raftpb
// does not know (a newer version wrote them), exactly what
// ProtoReflect().GetUnknown() returns, without the reflection: code that
// encodes entries by hand (the wal writes thousands per Save) reads it once
// per entry, and the reflective call cost more than the rest of the
// encoding. The result must not be modified.
func (x *Entry) UnknownBytes() []byte {
	if x == nil {
		return nil
	}
	return x.unknownFields
}
