package progress

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestProgressDataDriven replays the scenarios in testdata/. Each file
// drives one Progress through a sequence of calls and shows its String
// rendering after every step. Commands:
//
//	new match=M next=N [inflight=S] [max-bytes=B] [learner]
//	become-probe | become-replicate | become-snapshot index=I
//	sent entries=E [bytes=B]      SentEntries
//	sent-commit index=C           SentCommit
//	can-bump-commit index=C       CanBumpCommit
//	ack index=N                   MaybeUpdate
//	reject rejected=R hint=H      MaybeDecrTo
//	snapshot-done | snapshot-failed
//	resume
//	status                        also shows IsPaused and CanSendEntries
//
// Commands with a result print it on a first line ("-> true"); every
// command then prints the progress.
func TestProgressDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		var pr *Progress
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd != "new" && pr == nil {
				d.Fatalf(t, "%s before new", d.Cmd)
			}
			var out strings.Builder
			result := func(v any) { fmt.Fprintf(&out, "-> %v\n", v) }
			u64 := func(key string) uint64 {
				var v uint64
				d.ScanArgs(t, key, &v)
				return v
			}

			switch d.Cmd {
			case "new":
				size, maxBytes := 3, uint64(0)
				if d.HasArg("inflight") {
					d.ScanArgs(t, "inflight", &size)
				}
				if d.HasArg("max-bytes") {
					maxBytes = u64("max-bytes")
				}
				pr = &Progress{
					Match:     u64("match"),
					Next:      u64("next"),
					Inflights: NewInflights(size, maxBytes),
					IsLearner: d.HasArg("learner"),
				}
			case "become-probe":
				pr.BecomeProbe()
			case "become-replicate":
				pr.BecomeReplicate()
			case "become-snapshot":
				pr.BecomeSnapshot(u64("index"))
			case "sent":
				var entries int
				d.ScanArgs(t, "entries", &entries)
				var bytes uint64
				if d.HasArg("bytes") {
					bytes = u64("bytes")
				}
				pr.SentEntries(entries, bytes)
			case "sent-commit":
				pr.SentCommit(u64("index"))
			case "can-bump-commit":
				result(pr.CanBumpCommit(u64("index")))
			case "ack":
				result(pr.MaybeUpdate(u64("index")))
			case "reject":
				result(pr.MaybeDecrTo(u64("rejected"), u64("hint")))
			case "snapshot-done":
				result(pr.OnSnapshotDone())
			case "snapshot-failed":
				result(pr.OnSnapshotFailed())
			case "resume":
				pr.Resume()
			case "status":
				fmt.Fprintf(&out, "paused=%t can-send-entries=%t inflight-bytes=%d\n",
					pr.IsPaused(), pr.CanSendEntries(), pr.Inflights.Bytes())
			default:
				d.Fatalf(t, "unknown command %q", d.Cmd)
			}
			out.WriteString(pr.String())
			out.WriteByte('\n')
			return out.String()
		})
	})
}
