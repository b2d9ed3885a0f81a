package raft

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// logging.go promises that attribute keys are API: every attribute the
// package logs must use one of its declared keys, never a literal that
// could change unnoticed.
func TestLogKeysAreDeclared(t *testing.T) {
	literal := regexp.MustCompile(`slog\.[A-Z][A-Za-z0-9]*\("`)
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for i, line := range strings.Split(string(b), "\n") {
			require.False(t, literal.MatchString(line), "%s:%d logs an attribute with a literal key: %s", f, i+1, strings.TrimSpace(line))
		}
		checked++
	}
	require.Greater(t, checked, 10)
}
