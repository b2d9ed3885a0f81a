// Package invariants switches on the expensive consistency checks of the
// raft log and state machine. Builds with the "invariants" tag (make test
// uses it) set Enabled; production builds leave it off so the checks cost
// nothing. Cheap checks run in every build and do not consult this package.
package invariants
