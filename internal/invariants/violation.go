package invariants

import "fmt"

// Violation is the panic value of a broken internal invariant, in every
// build: a state the code around it makes impossible, so going on would
// risk corrupting the log. It is never used for bad input from the network,
// the application or its storage, which are reported as errors. Recover it
// with errors.As on the recovered value (it is an error).
type Violation struct {
	// Pkg is the package whose invariant broke, e.g. "raft" or "progress".
	Pkg string
	// Name states the invariant, e.g. "Match < Next".
	Name string
	// Detail gives the values that broke it.
	Detail string
}

// Error renders the violation as `pkg: invariant "name" violated: detail`.
func (v *Violation) Error() string {
	return fmt.Sprintf("%s: invariant %q violated: %s", v.Pkg, v.Name, v.Detail)
}

// Fail panics with a *Violation of the invariant name of package pkg; the
// formatted detail gives the values that broke it. It is the one way the
// core packages report a broken invariant.
func Fail(pkg, name, format string, args ...any) {
	panic(&Violation{Pkg: pkg, Name: name, Detail: fmt.Sprintf(format, args...)})
}
