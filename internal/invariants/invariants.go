// Package invariants switches on the expensive consistency checks of the
// raft log and state machine. Builds with the "invariants" tag (make test
// uses it) set Enabled; production builds leave it off so the checks cost
// nothing. Cheap checks run in every build and do not consult Enabled; every
// check, cheap or not, reports a broken invariant through Fail.
package invariants
