//go:build raftbugs

package bugs

// Enabled reports whether the knobs of this package take effect in this
// build: only with the "raftbugs" build tag.
const Enabled = true
