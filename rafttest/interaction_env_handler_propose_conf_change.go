package rafttest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	pb "github.com/tickraft/raft/raftpb"
)

// handleProposeConfChange proposes a configuration change on a node. The
// changes are given in the input block in the text form of
// raftpb.ConfChangesFromString. Example:
//
//	propose-conf-change 1 transition=explicit
//	v4 l5 r3
//
// proposes a ConfChangeV2 adding voter 4 and learner 5 and removing node 3,
// entering a joint configuration that must be left explicitly. An empty
// input block proposes the empty ConfChangeV2 that leaves a joint
// configuration. With v1 the change is a legacy ConfChange, which holds
// exactly one change. transition is auto (the default), implicit or
// explicit. A refused change prints its error.
func (env *InteractionEnv) handleProposeConfChange(t *testing.T, d *datadriven.TestData) error {
	checkArgs(t, d, "v1", "transition")
	id, rest := env.oneID(t, d, "v1")
	if len(rest) > 0 {
		d.Fatalf(t, "propose-conf-change takes one node ID; the changes go in the input block")
	}
	changes, err := pb.ConfChangesFromString(strings.TrimSpace(d.Input))
	if err != nil {
		d.Fatalf(t, "%v", err)
	}
	var cc pb.ConfChangeI
	if boolArg(t, d, "v1") {
		if len(changes) != 1 || d.HasArg("transition") {
			d.Fatalf(t, "a v1 conf change holds exactly one change and no transition")
		}
		cc = &pb.ConfChange{Type: changes[0].Type, NodeId: changes[0].NodeId}
	} else {
		v2 := &pb.ConfChangeV2{Changes: changes}
		if d.HasArg("transition") {
			var s string
			d.ScanArgs(t, "transition", &s)
			tr, err := parseTransition(s)
			if err != nil {
				d.Fatalf(t, "%v", err)
			}
			v2.Transition = tr
		}
		cc = v2
	}
	return env.Nodes[id-1].ProposeConfChange(cc)
}

func parseTransition(s string) (pb.ConfChangeTransition, error) {
	switch s {
	case "auto":
		return pb.ConfChangeTransitionAuto, nil
	case "implicit":
		return pb.ConfChangeTransitionJointImplicit, nil
	case "explicit":
		return pb.ConfChangeTransitionJointExplicit, nil
	}
	return 0, fmt.Errorf("transition must be auto, implicit or explicit, not %q", s)
}
