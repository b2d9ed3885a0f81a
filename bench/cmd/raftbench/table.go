package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/tickraft/raft/bench/suite"
)

// summary is the median of each metric over a target's runs of a workload.
type summary struct {
	n                                    int
	puts, p50, p99                       float64
	cpu, lib, drv, rt                    float64
	allocs, bytes, msgs, heap            float64
	lagMean, lagMax, other               float64
	spread, libSpread                    float64 // ±half the range, relative to the median
	disturbed, redone                    int
	leaderChanges, retries, snaps, stepE uint64
}

func median(rs []Run, f func(Run) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	n := len(v)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// halfRange is ±half the range of f over rs, relative to med.
func halfRange(rs []Run, med float64, f func(Run) float64) float64 {
	if med == 0 || len(rs) == 0 {
		return 0
	}
	lo, hi := f(rs[0]), f(rs[0])
	for _, r := range rs {
		lo, hi = min(lo, f(r)), max(hi, f(r))
	}
	return (hi - lo) / 2 / med
}

func cpuOf(r Run) suite.CPU {
	if r.CPU == nil {
		return suite.CPU{}
	}
	return *r.CPU
}

func summarize(rs []Run) summary {
	s := summary{
		n:       len(rs),
		puts:    median(rs, func(r Run) float64 { return r.PutsPerSec }),
		p50:     median(rs, func(r Run) float64 { return float64(r.P50Ns) }),
		p99:     median(rs, func(r Run) float64 { return float64(r.P99Ns) }),
		cpu:     median(rs, func(r Run) float64 { return cpuOf(r).NsPerOp }),
		lib:     median(rs, func(r Run) float64 { return cpuOf(r).LibraryNs }),
		drv:     median(rs, func(r Run) float64 { return cpuOf(r).DriverNs }),
		rt:      median(rs, func(r Run) float64 { return cpuOf(r).RuntimeNs }),
		allocs:  median(rs, func(r Run) float64 { return r.AllocsPerOp }),
		bytes:   median(rs, func(r Run) float64 { return r.BytesPerOp }),
		msgs:    median(rs, func(r Run) float64 { return r.MsgsPerOp }),
		heap:    median(rs, func(r Run) float64 { return float64(r.PeakHeapBytes) }),
		lagMean: median(rs, func(r Run) float64 { return r.ApplyLagMean }),
		lagMax:  median(rs, func(r Run) float64 { return float64(r.ApplyLagMax) }),
		other:   median(rs, func(r Run) float64 { return r.OtherCPU }),
	}
	s.spread = halfRange(rs, s.puts, func(r Run) float64 { return r.PutsPerSec })
	s.libSpread = halfRange(rs, s.lib, func(r Run) float64 { return cpuOf(r).LibraryNs })
	for _, r := range rs {
		if r.Disturbed {
			s.disturbed++
		}
		if r.Attempts > 1 {
			s.redone++
		}
		s.leaderChanges += r.LeaderChanges
		s.retries += r.Retries
		s.snaps += r.Snapshots
		s.stepE += r.StepErrors
	}
	return s
}

func isEtcd(name string) bool { return strings.HasPrefix(name, "etcd") }

func printTable(w io.Writer, ws []suite.Workload, rs []runner, all []Run) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\ttarget\tputs/s\tspread\tvs best etcd\tp50\tp99\tCPU/put\tlibrary\tspread\tdriver\truntime\tlib vs best etcd\tallocs/op\tB/op\tmsgs/op\tapply lag mean/max\tpeak heap\tother CPU\tdisturbed\t")
	var notes []string
	for _, wl := range ws {
		sums := map[string]summary{}
		var bestPuts, bestLib float64
		for _, rn := range rs {
			var runs []Run
			for _, r := range all {
				if r.Impl == rn.Name && r.Workload == wl.Name {
					runs = append(runs, r)
				}
			}
			if len(runs) == 0 {
				continue
			}
			s := summarize(runs)
			sums[rn.Name] = s
			if isEtcd(rn.Name) {
				bestPuts = max(bestPuts, s.puts)
				if s.lib > 0 && (bestLib == 0 || s.lib < bestLib) {
					bestLib = s.lib
				}
			}
		}
		first := true
		for _, rn := range rs {
			s, ok := sums[rn.Name]
			if !ok {
				continue
			}
			name := ""
			if first {
				name, first = wl.Name, false
			}
			vsPuts, vsLib := "", ""
			if !isEtcd(rn.Name) && bestPuts > 0 {
				vsPuts = fmt.Sprintf("%.2fx", s.puts/bestPuts)
			}
			if !isEtcd(rn.Name) && bestLib > 0 && s.lib > 0 {
				vsLib = fmt.Sprintf("%.2f", s.lib/bestLib)
			}
			msgs := fmt.Sprintf("%.2f", s.msgs)
			if s.msgs == 0 && !wl.Single {
				msgs = "-" // not counted (hashicorp's transport)
			}
			lag := "-"
			if !wl.Single {
				lag = fmt.Sprintf("%.1f/%.0f", s.lagMean, s.lagMax)
			}
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t±%.0f%%\t%s\t%s\t%s\t%s\t%s\t±%.0f%%\t%s\t%s\t%s\t%.1f\t%.0f\t%s\t%s\t%s\t%.2f\t%d/%d\t\n",
				name, rn.Name, s.puts, 100*s.spread, vsPuts,
				fmtNs(s.p50), fmtNs(s.p99),
				fmtNs(s.cpu), fmtNs(s.lib), 100*s.libSpread, fmtNs(s.drv), fmtNs(s.rt), vsLib,
				s.allocs, s.bytes, msgs, lag, fmtBytes(s.heap), s.other, s.disturbed, s.n)
			if s.leaderChanges+s.retries+s.snaps+s.stepE > 0 {
				notes = append(notes, fmt.Sprintf("%s %s: %d leader changes, %d retried puts, %d snapshots to followers, %d refused messages during measurement",
					wl.Name, rn.Name, s.leaderChanges, s.retries, s.snaps, s.stepE))
			}
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, l := range legend {
		fmt.Fprintln(w, l)
	}
	for _, n := range notes {
		fmt.Fprintln(w, "disturbed:", n)
	}
}

var legend = []string{
	"Medians over the runs. spread: ±half the range over the runs, relative to the median.",
	"vs best etcd: puts/s over the higher of etcd raft v3.6/v3.7. lib vs best etcd: library CPU per put over the lower of the two (target: <= 0.20).",
	"CPU/put: the process's user+system CPU per put; library/driver/runtime split it by the run's CPU profile: a sample goes to the innermost",
	"  frame of library code (github.com/tickraft/raft, go.etcd.io/raft/v3, github.com/hashicorp/raft) or driver code (this module), so",
	"  allocations, locks and channel operations count for their caller; runtime is what has neither (GC workers, the idle scheduler).",
	"allocs/op, B/op: the whole process per put. msgs/op: messages between nodes per put. apply lag: entries the furthest follower has",
	"  still to apply behind the leader, sampled every 10ms. other CPU: cores other processes used during the run (median); disturbed: runs",
	"  still above the -max-other limit after redoing.",
}
