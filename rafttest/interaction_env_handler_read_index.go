package rafttest

import (
	"testing"

	"github.com/cockroachdb/datadriven"
)

// handleReadIndex asks a node for a linearizable read, identified by a
// request context. Example:
//
//	read-index 2 r1
//
// The answer, a ReadState with RequestCtx "r1", shows in a later Ready of
// node 2. A refusal (no leader known) prints its error.
func (env *InteractionEnv) handleReadIndex(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d)
	id, rest := env.oneID(t, d)
	if len(rest) != 1 {
		d.Fatalf(t, "read-index takes a node ID and a request context")
	}
	return env.Nodes[id-1].ReadIndex([]byte(rest[0]))
}
