package rafttest

import (
	"testing"

	"github.com/cockroachdb/datadriven"
)

// handlePropose proposes data on a node, one proposal per datum. Example:
//
//	propose 1 foo bar
//
// proposes "foo", then "bar", on node 1. A refused proposal prints its
// error (prefixed with the datum when several are given); the others are
// accepted for now, which says nothing about whether they will commit.
func (env *InteractionEnv) handlePropose(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d)
	id, data := env.oneID(t, d)
	if len(data) == 0 {
		d.Fatalf(t, "propose needs data after the node ID")
	}
	nd := env.Nodes[id-1]
	if len(data) == 1 {
		return nd.Propose([]byte(data[0]))
	}
	for _, s := range data {
		if err := nd.Propose([]byte(s)); err != nil {
			env.printf("%q: error: %v\n", s, err)
		}
	}
	return nil
}
