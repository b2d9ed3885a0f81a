package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestDemo runs the whole scenario: every check the demo makes must pass,
// and the narrative must tell each stage.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, defaultSeed); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, stage := range stages {
		if !strings.Contains(text, "== "+stage+" ==") {
			t.Errorf("the narrative lacks stage %q", stage)
		}
	}
	// A few events each stage is about.
	for _, event := range []string{
		"became leader of term 2",  // 1
		"kv {a=1 b=2 c=3}",         // 2
		"became leader of term 3",  // 3
		"stepped down to follower", // 4
		"put orphan=lost), for the leader's entries",
		"(add learner 4)", // 5
		"(add voter 4)",
		"sends node 1 a snapshot", // 6
		"installs the snapshot",
		"is told so with ReportSnapshot",
		"got its ReadState", // 7
		"answers: answer=42",
		"checks passed",
	} {
		if !strings.Contains(text, event) {
			t.Errorf("the narrative lacks %q", event)
		}
	}
	if n := strings.Count(text, "\n"); n < 40 || n > 70 {
		t.Errorf("the narrative has %d lines, want 40 to 70", n)
	}
	if t.Failed() {
		t.Logf("narrative:\n%s", text)
	}
}

// TestDemoIsDeterministic runs the demo twice: with a simulated clock, a
// seeded election timer and one goroutine, both runs must tell the same
// story, tick for tick.
func TestDemoIsDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if err := run(&a, defaultSeed); err != nil {
		t.Fatal(err)
	}
	if err := run(&b, defaultSeed); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Errorf("two runs differ:\n%s\n---\n%s", a.String(), b.String())
	}
}

// TestDemoAcrossSeeds replays the scenario with other election seeds:
// different nodes win the elections, and every check must still pass.
func TestDemoAcrossSeeds(t *testing.T) {
	for s := range uint64(100) {
		var out bytes.Buffer
		if err := run(&out, s); err != nil {
			t.Errorf("seed %d: %v\n%s", s, err, out.String())
		}
	}
}
