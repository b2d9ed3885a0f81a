package rafttest

import (
	"flag"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

var showLogs = flag.Bool("rafttest.logs", false, "send the nodes' log records to the test log")

// TestInteraction replays every scenario in testdata/*.txt on a fresh
// InteractionEnv. Run with -rewrite to regenerate the expected output, and
// with -rafttest.logs (and -v) to see what the nodes logged.
func TestInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		if filepath.Ext(path) != ".txt" {
			t.Skipf("%s is not a scenario (.txt)", path)
		}
		var opts InteractionOpts
		if *showLogs {
			opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
		env := NewInteractionEnv(&opts)
		datadriven.RunTest(t, path, env.Handle)
	})
}

// testWriter sends what is written to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
