package raft

// Pins the test dependencies in go.mod while the packages that use them are
// being written. Removed once real tests import them.
import (
	_ "github.com/cockroachdb/datadriven"
	_ "github.com/stretchr/testify/require"
)
