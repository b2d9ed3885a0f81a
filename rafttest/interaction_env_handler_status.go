package rafttest

import (
	"slices"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// handleStatus prints a node's Status. Example:
//
//	status 1
//
// prints the basic status, the configuration and, on a leader, the
// progress of every peer as the progress package renders it (state, match,
// next, and the flow-control details that are set).
func (env *InteractionEnv) handleStatus(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d)
	for _, id := range env.nodeIDs(t, d, false) {
		s := env.Nodes[id-1].Status()
		env.printf("%d: %s\n", id, describeBasic(s.BasicStatus))
		if s.LeadTransferee != 0 {
			env.printf("  LeadTransferee:%d\n", s.LeadTransferee)
		}
		if s.DroppedMessages != 0 {
			env.printf("  DroppedMessages:%d\n", s.DroppedMessages)
		}
		if s.Err != nil {
			env.printf("  Err: %v\n", s.Err)
		}
		env.printf("  Config: %s\n", s.Config)
		if len(s.Progress) == 0 {
			continue
		}
		env.printf("  Progress:\n")
		ids := make([]uint64, 0, len(s.Progress))
		for pid := range s.Progress {
			ids = append(ids, pid)
		}
		slices.Sort(ids)
		for _, pid := range ids {
			pr := s.Progress[pid]
			env.printf("    %d: %s\n", pid, pr.String())
		}
	}
	return nil
}
