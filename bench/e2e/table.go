package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"
)

// disturbedCores is the CPU of other processes (in cores) above which a
// run is flagged as disturbed.
const disturbedCores = 0.2

func median[T int | float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func col[T any](rs []result, f func(result) T) []T {
	out := make([]T, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

// summary is the median of a workload's runs on one system.
type summary struct {
	ops, lo, hi     float64
	p50, p99, p999  time.Duration
	cpu             []time.Duration // per member, leader first
	fsyncs          []float64
	sys             float64 // the leader's read+write syscalls per op
	other, loadgen  float64
	disturbed, runs int
	errs            int
}

func summarize(rs []result) summary {
	s := summary{runs: len(rs)}
	ops := col(rs, func(r result) float64 { return r.ops })
	s.ops, s.lo, s.hi = median(ops), slices.Min(ops), slices.Max(ops)
	s.p50 = median(col(rs, func(r result) time.Duration { return r.p50 }))
	s.p99 = median(col(rs, func(r result) time.Duration { return r.p99 }))
	s.p999 = median(col(rs, func(r result) time.Duration { return r.p999 }))
	for m := range rs[0].cpuPerOp {
		s.cpu = append(s.cpu, median(col(rs, func(r result) time.Duration { return r.cpuPerOp[m] })))
		s.fsyncs = append(s.fsyncs, median(col(rs, func(r result) float64 { return r.fsyncPer[m] })))
	}
	s.sys = median(col(rs, func(r result) float64 { return r.sysPerOp }))
	s.other = median(col(rs, func(r result) float64 { return r.otherCPU }))
	s.loadgen = median(col(rs, func(r result) float64 { return r.loadgenCP }))
	for _, r := range rs {
		s.errs += r.errs
		if r.otherCPU > disturbedCores {
			s.disturbed++
		}
	}
	return s
}

func (s summary) totalCPU() time.Duration {
	var t time.Duration
	for _, c := range s.cpu {
		t += c
	}
	return t
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/1e6) }

// cpuCell prints CPU seconds per 1,000 ops (= ms per op) per member.
func cpuCell(cpu []time.Duration) string {
	var parts []string
	for _, c := range cpu {
		parts = append(parts, fmt.Sprintf("%.3f", float64(c)/1e6))
	}
	return strings.Join(parts, "/")
}

func fsyncCell(f []float64) string {
	var parts []string
	for _, x := range f {
		parts = append(parts, fmt.Sprintf("%.2f", x))
	}
	return strings.Join(parts, "/")
}

func printTable(w io.Writer, c config, wls []workload, res map[string]map[string][]result, disk diskLimits) {
	fmt.Fprintf(w, "# bench/e2e %s, %d CPUs, %s, medians of %d alternating runs, %v per workload after %v warmup\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), runtime.Version(), c.runs, c.duration, c.warmup)
	fmt.Fprintf(w, "# disk synchronous-commit limit (4 KiB write + fdatasync, median, in %s): %s ms = %.0f commits/s\n",
		c.dir, ms(disk.single), float64(time.Second)/float64(disk.single))
	fmt.Fprintf(w, "# the same with 3 writers started together on this disk, until 2 are done (a 3-member commit): %s ms\n\n", ms(disk.quorum))
	fmt.Fprintln(w, "| workload | system | ops/s (min-max) | p50 ms | p99 ms | p99.9 ms | CPU s per 1k ops L/F/F | wal fsyncs per op L/F/F | leader r+w syscalls per op | other CPU (cores) | disturbed runs | errors |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, wl := range wls {
		for _, name := range c.systems {
			rs := res[name][wl.String()]
			if len(rs) == 0 {
				continue
			}
			s := summarize(rs)
			fmt.Fprintf(w, "| %v | %s | %.0f (%.0f-%.0f) | %s | %s | %s | %s | %s | %.2f | %.2f | %d/%d | %d |\n",
				wl, name, s.ops, s.lo, s.hi, ms(s.p50), ms(s.p99), ms(s.p999), cpuCell(s.cpu), fsyncCell(s.fsyncs),
				s.sys, s.other, s.disturbed, s.runs, s.errs)
		}
	}
	for _, name := range c.systems {
		if isRaftkv(name) {
			printRatios(w, name, wls, res, disk)
		}
	}
}

// printRatios compares a raftkv system with etcd.
func printRatios(w io.Writer, name string, wls []workload, res map[string]map[string][]result, disk diskLimits) {
	if rs := res[name][workload{clients: 1, value: 16}.String()]; len(rs) > 0 {
		s := summarize(rs)
		fmt.Fprintf(w, "\n%s put16-c1 p50 / disk commit limit: %.2fx (target <= 1.5x); / the 3-writer limit: %.2fx\n",
			name, float64(s.p50)/float64(disk.single), float64(s.p50)/float64(disk.quorum))
	}
	if len(res[name]) == 0 || len(res["etcd"]) == 0 {
		return
	}
	fmt.Fprintf(w, "\n| workload | %[1]s/etcd ops/s | p99 %[1]s/etcd | CPU per op %[1]s/etcd |\n", name)
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, wl := range wls {
		a, b := res[name][wl.String()], res["etcd"][wl.String()]
		if len(a) == 0 || len(b) == 0 {
			continue
		}
		sa, sb := summarize(a), summarize(b)
		fmt.Fprintf(w, "| %v | %.2fx | %.2f | %.2f |\n", wl, sa.ops/sb.ops,
			float64(sa.p99)/float64(sb.p99), float64(sa.totalCPU())/float64(sb.totalCPU()))
	}
}
