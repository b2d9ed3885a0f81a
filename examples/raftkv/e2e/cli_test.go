package e2e

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestCLIGolden runs raftkv-cli against a one-node cluster it initializes
// itself and compares the transcript (stdout, stderr, exit status) with
// testdata/cli.golden. Addresses are replaced by names; log indexes are
// deterministic on one node (each CLI call registers a session, one entry,
// then writes).
func TestCLIGolden(t *testing.T) {
	c := newCluster(t, "memory", 1)
	n := c.Node(1)
	if err := n.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	script := [][]string{
		{"init"},
		{"put", "greeting", "hello"},
		{"get", "greeting"},
		{"get", "greeting", "stale"},
		{"cas", "greeting", "1", "nope"},
		{"cas", "greeting", "5", "bye"},
		{"put-if-absent", "greeting", "again"},
		{"put-if-absent", "fresh", "new"},
		{"put", "user/1", "ada"},
		{"put", "user/2", "grace"},
		{"scan", "-prefix", "user/"},
		{"scan", "-limit", "2"},
		{"-json", "get", "user/1"},
		{"-json", "put", "user/3", "edsger"},
		{"delete", "greeting"},
		{"delete", "greeting"},
		{"get", "greeting"},
		{"-json", "get", "greeting"},
		{"status"},
		{"transfer-leader", "1"},
		{"cas", "k", "notanumber", "v"},
		{"frobnicate"},
		{"init"},
	}
	var out bytes.Buffer
	for _, args := range script {
		cmd := exec.CommandContext(ctx(t), bins["raftkv-cli"], append([]string{"-endpoints", n.APIAddr}, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "$ raftkv-cli %s\n%s", strings.Join(args, " "), stdout.String())
		if stderr.Len() > 0 {
			if args[0] == "frobnicate" {
				stderr.Reset()
				stderr.WriteString("(usage)\n")
			}
			fmt.Fprintf(&out, "stderr: %s", stderr.String())
		}
		fmt.Fprintf(&out, "exit %d\n\n", code)
	}
	got := strings.NewReplacer(n.APIAddr, "<api1>", n.RaftAddr, "<raft1>").Replace(out.String())
	// Table columns are as wide as the real addresses: collapse padding.
	got = regexp.MustCompile(`  +`).ReplaceAllString(got, "  ")
	// Snapshots are written in the background: when one lands is timing.
	got = regexp.MustCompile(`snapshot \d+,`).ReplaceAllString(got, "snapshot N,")
	path := filepath.Join("testdata", "cli.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("the CLI transcript differs from %s (run with -update to accept):\n%s", path, got)
	}
}
