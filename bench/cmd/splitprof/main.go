// Command splitprof reads a CPU profile (as raftbench's children write it
// with -cpuprofile) and prints the functions the CPU is charged to under
// raftbench's split: each sample goes to its innermost frame of library or
// driver code, with the runtime and standard library work below it.
//
//	go run ./cmd/splitprof [-n 30] FILE
package main

import (
	"cmp"
	"flag"
	"fmt"
	"os"
	"slices"

	"github.com/google/pprof/profile"

	"github.com/tickraft/raft/bench/suite"
)

func main() {
	n := flag.Int("n", 30, "functions to print")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: splitprof [-n N] FILE")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *n); err != nil {
		fmt.Fprintln(os.Stderr, "splitprof:", err)
		os.Exit(1)
	}
}

func run(file string, n int) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	prof, err := profile.Parse(f)
	if err != nil {
		return err
	}
	vi := len(prof.SampleType) - 1
	type key struct {
		c  suite.Class
		fn string
	}
	charged := map[key]int64{}
	var byClass [3]int64
	var total int64
	var stack []string
	for _, s := range prof.Sample {
		stack = stack[:0]
		for _, loc := range s.Location {
			for _, l := range loc.Line {
				if l.Function != nil {
					stack = append(stack, l.Function.Name)
				}
			}
		}
		c, fn := suite.Charge(stack)
		v := s.Value[vi]
		charged[key{c, fn}] += v
		byClass[c] += v
		total += v
	}
	if total == 0 {
		return fmt.Errorf("%s: no samples", file)
	}
	names := [...]string{"runtime", "library", "driver"}
	for c, v := range byClass {
		fmt.Printf("%-8s %5.1f%%\n", names[c], 100*float64(v)/float64(total))
	}
	keys := slices.Collect(func(yield func(key) bool) {
		for k := range charged {
			if !yield(k) {
				return
			}
		}
	})
	slices.SortFunc(keys, func(a, b key) int { return cmp.Compare(charged[b], charged[a]) })
	fmt.Println()
	for i, k := range keys {
		if i == n {
			break
		}
		fn := k.fn
		if fn == "" {
			fn = "(runtime's own)"
		}
		fmt.Printf("%5.1f%%  %-7s %s\n", 100*float64(charged[k])/float64(total), names[k.c], fn)
	}
	return nil
}
