package kv

import (
	"github.com/tickraft/raft/replica"
)

// store is what the shared apply logic needs from a state machine's data:
// the current version and value of a key, and writes. Both state machines
// implement it (pebble on an indexed batch, so later commands of a batch
// see the earlier ones).
type store interface {
	get(key []byte) (value []byte, version uint64, ok bool, err error)
	put(key, value []byte, version uint64) error
	del(key []byte) error
	setNode(id uint64, addr string) error
}

// applyBatch applies commands in order, deduplicating by session, and
// stores one Result per command. Only an error of the store is returned;
// refusals are results.
func applyBatch(st store, ss *sessions, cmds []replica.Command, results []any) error {
	for i, c := range cmds {
		r, err := applyOne(st, ss, c)
		if err != nil {
			return err
		}
		results[i] = r
	}
	ss.evict()
	return nil
}

func applyOne(st store, ss *sessions, c replica.Command) (Result, error) {
	req, err := Decode(c.Data)
	if err != nil || (req.ClientID != 0 && req.Seq == 0) {
		return Result{Code: BadCommand}, nil
	}
	if req.Op == OpRegister {
		ss.m[c.Index] = newSession(c.Index)
		ss.dirty[c.Index] = true
		return Result{Version: c.Index}, nil
	}
	var s *session
	if req.ClientID != 0 {
		if s = ss.m[req.ClientID]; s == nil {
			return Result{Code: SessionExpired}, nil
		}
		s.lastIndex = c.Index
		s.ack(req.AckBelow)
		ss.dirty[req.ClientID] = true
		if req.Seq < s.ackBelow {
			return Result{Code: SessionStale}, nil
		}
		if r, ok := s.results[req.Seq]; ok {
			return r, nil // a retry of an applied command: its first result
		}
	}
	r, err := execute(st, req, c.Index)
	if err != nil {
		return Result{}, err
	}
	if s != nil {
		s.record(req.Seq, r)
	}
	return r, nil
}

// execute runs one command on the data; index is its log index, the new
// version of what it writes.
func execute(st store, req Request, index uint64) (Result, error) {
	switch req.Op {
	case OpPut:
		return Result{Version: index}, st.put(req.Key, req.Value, index)
	case OpDelete:
		_, _, ok, err := st.get(req.Key)
		if err != nil || !ok {
			return Result{}, err
		}
		return Result{Existed: true}, st.del(req.Key)
	case OpCAS, OpPutIfAbsent:
		_, ver, ok, err := st.get(req.Key)
		if err != nil {
			return Result{}, err
		}
		switch {
		case req.Op == OpPutIfAbsent && ok:
			return Result{Code: Exists, Version: ver}, nil
		case req.Op == OpCAS && ver != req.Version:
			return Result{Code: VersionMismatch, Version: ver}, nil
		}
		return Result{Version: index}, st.put(req.Key, req.Value, index)
	case OpSetNode:
		return Result{Version: index}, st.setNode(req.Version, string(req.Value))
	}
	return Result{Code: BadCommand}, nil
}
