package confchange

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/stretchr/testify/require"

	"github.com/tickraft/raft/progress"
)

// TestDataDriven replays the scenarios in testdata/, one per file. Each file
// starts from an empty tracker (MaxInflight 10) and runs commands whose
// input is a list of changes in the compact text form ("v1 l2 r3 u4", plus
// "v0" and "?type:node" for invalid changes, see parseChanges):
//
//	simple                        Changer.Simple
//	enter-joint [autoleave=true]  Changer.EnterJoint
//	leave-joint                   Changer.LeaveJoint (no input)
//	ack id=N index=I              Progress.MaybeUpdate on peer N, so that
//	                              a scenario can show which Progress
//	                              survives a change
//
// Every change command runs with LastIndex one higher than the previous one
// (1 for the first), so a peer added by the k-th change command starts at
// next=k+1. A successful command prints Describe of its result, which then
// replaces the tracker's configuration; a failed one prints "error: " and
// the error text, and leaves the tracker as it was.
//
// Besides the printed output, every command checks that the tracker given
// to the Changer was not modified, and every successful one that the result
// keeps the invariants and survives a round trip through Restore.
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		tr := progress.MakeTracker(10, 0)
		var lastIndex uint64
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd == "ack" {
				var id, index uint64
				d.ScanArgs(t, "id", &id)
				d.ScanArgs(t, "index", &index)
				pr := tr.Progress[id]
				if pr == nil {
					d.Fatalf(t, "no progress for %d", id)
				}
				pr.MaybeUpdate(index)
				return Describe(tr.Config, tr.Progress)
			}

			ccs, err := parseChanges(d.Input)
			if err != nil {
				d.Fatalf(t, "%v", err)
			}
			lastIndex++
			c := Changer{Tracker: tr, LastIndex: lastIndex}
			before := cloneTracker(tr)

			var (
				cfg progress.Config
				prs progress.Map
			)
			switch d.Cmd {
			case "simple":
				cfg, prs, err = c.Simple(ccs...)
			case "enter-joint":
				autoLeave := false
				if d.HasArg("autoleave") {
					d.ScanArgs(t, "autoleave", &autoLeave)
				}
				cfg, prs, err = c.EnterJoint(autoLeave, ccs...)
			case "leave-joint":
				if len(ccs) > 0 {
					d.Fatalf(t, "leave-joint takes no changes")
				}
				cfg, prs, err = c.LeaveJoint()
			default:
				d.Fatalf(t, "unknown command %q", d.Cmd)
			}
			require.Equal(t, before, tr, "%s modified its input", d.Pos)
			if err != nil {
				return fmt.Sprintf("error: %v\n", err)
			}
			requireValid(t, cfg, prs)
			requireRestores(t, cfg, prs, lastIndex)
			tr.Config, tr.Progress = cfg, prs
			return Describe(cfg, prs)
		})
	})
}
