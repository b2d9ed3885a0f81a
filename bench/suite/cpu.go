package suite

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/pprof/profile"
)

// CPU is the process's CPU time per put over a run's measured part, and how
// a CPU profile of that part splits it.
type CPU struct {
	// NsPerOp is the process's user and system CPU time per put (all
	// nodes, all clients, the Go runtime).
	NsPerOp float64 `json:"ns_per_op"`
	// LibraryNs, DriverNs and RuntimeNs split NsPerOp by the shares of
	// the profile's samples (see Class); all 0 without a profile.
	LibraryNs float64 `json:"library_ns"`
	DriverNs  float64 `json:"driver_ns"`
	RuntimeNs float64 `json:"runtime_ns"`
	// Samples is the number of profile samples (ProfileHz per CPU second).
	Samples int `json:"samples"`

	library, driver, runtime float64 // shares of the samples
}

func (c *CPU) setTotal(ns float64) {
	c.NsPerOp = ns
	c.LibraryNs, c.DriverNs, c.RuntimeNs = ns*c.library, ns*c.driver, ns*c.runtime
}

// Class is who a CPU profile sample is charged to.
type Class int

// The classes of Classify.
const (
	// ClassRuntime: the sample has no frame of library or driver code
	// (GC workers, the scheduler looking for work, ...).
	ClassRuntime Class = iota
	// ClassLibrary: the raft library under test, or its runtime.
	ClassLibrary
	// ClassDriver: this module (driver, adapters, suite, commands).
	ClassDriver
)

// libraryPrefixes are the packages whose code is a library under test.
var libraryPrefixes = []string{
	"github.com/tickraft/raft.", "github.com/tickraft/raft/",
	"go.etcd.io/raft/v3.", "go.etcd.io/raft/v3/",
	"github.com/hashicorp/raft.",
}

// classifyFunc returns the class of a function by its full name, and false
// for a function that belongs to neither (the standard library, the
// runtime, other modules): those are charged to their caller.
func classifyFunc(name string) (Class, bool) {
	if strings.HasPrefix(name, "github.com/tickraft/raft/bench/") || strings.HasPrefix(name, "main.") {
		return ClassDriver, true
	}
	for _, p := range libraryPrefixes {
		if strings.HasPrefix(name, p) {
			return ClassLibrary, true
		}
	}
	return ClassRuntime, false
}

// Charge returns the class of a sample, given its stack's function names
// from the innermost frame out, and the function it is charged to (empty
// for the runtime's own samples): see Classify.
func Charge(stack []string) (Class, string) {
	for _, fn := range stack {
		if c, ok := classifyFunc(fn); ok {
			return c, fn
		}
	}
	return ClassRuntime, ""
}

// Classify charges a sample, given its stack's function names from the
// innermost frame out, to the innermost frame of library or driver code:
// the runtime and standard library work that code calls (allocating,
// channel operations, map assignments, locks) is its cost. A sample with
// no such frame is the Go runtime's own.
func Classify(stack []string) Class {
	c, _ := Charge(stack)
	return c
}

type profiler struct{ buf bytes.Buffer }

// ProfileHz is the CPU profile's sampling rate: at pprof's 100 Hz a 3 s run
// on a loaded machine may yield only a few hundred samples.
const ProfileHz = 1000

// ProfileRateWarning is what the runtime prints to stderr when the profile
// rate is set before pprof sets its own (which it then keeps): expected,
// and filtered out by raftbench.
const ProfileRateWarning = "runtime: cannot set cpu profile rate until previous profile has finished."

func startProfile() (*profiler, error) {
	p := &profiler{}
	runtime.SetCPUProfileRate(ProfileHz)
	if err := pprof.StartCPUProfile(&p.buf); err != nil {
		return nil, fmt.Errorf("suite: CPU profile: %w", err)
	}
	return p, nil
}

// stop stops the profile, writes it to file if that is not empty, and
// splits it.
func (p *profiler) stop(file string) (*CPU, error) {
	pprof.StopCPUProfile()
	if file != "" {
		if err := os.WriteFile(file, p.buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
	}
	prof, err := profile.Parse(&p.buf)
	if err != nil {
		return nil, fmt.Errorf("suite: CPU profile: %w", err)
	}
	vi := len(prof.SampleType) - 1 // cpu nanoseconds
	var byClass [3]int64
	var total, count int64
	var stack []string
	for _, s := range prof.Sample {
		stack = stack[:0]
		for _, loc := range s.Location {
			for _, l := range loc.Line { // innermost (inlined) first
				if l.Function != nil {
					stack = append(stack, l.Function.Name)
				}
			}
		}
		v := s.Value[vi]
		byClass[Classify(stack)] += v
		total += v
		count += s.Value[0] // samples with this stack
	}
	c := &CPU{Samples: int(count)}
	if total > 0 {
		c.library = float64(byClass[ClassLibrary]) / float64(total)
		c.driver = float64(byClass[ClassDriver]) / float64(total)
		c.runtime = float64(byClass[ClassRuntime]) / float64(total)
	}
	return c, nil
}

// cpuReading is what readCPU reads at one moment.
type cpuReading struct {
	// self is this process's user+system CPU time (getrusage).
	self time.Duration
	// busy and selfTicks are all CPUs' non-idle time (/proc/stat) and
	// this process's (/proc/self/stat), in clock ticks; ok says both were
	// read.
	busy, selfTicks uint64
	ok              bool
}

func readCPU() cpuReading {
	var r cpuReading
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		r.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	busy, ok1 := procStatBusy()
	self, ok2 := procSelfTicks()
	r.busy, r.selfTicks, r.ok = busy, self, ok1 && ok2
	return r
}

// clockTick is the kernel's USER_HZ, the unit of /proc/stat on Linux.
const clockTick = 100

// otherCores returns the CPU other processes used between r0 and r, in
// cores, or -1 if it could not be read.
func (r cpuReading) otherCores(r0 cpuReading, elapsed time.Duration) float64 {
	if !r.ok || !r0.ok || elapsed <= 0 {
		return -1
	}
	busy := int64(r.busy - r0.busy)
	self := int64(r.selfTicks - r0.selfTicks)
	other := max(0, busy-self)
	return float64(other) / clockTick / elapsed.Seconds()
}

// procStatBusy returns the non-idle time of all CPUs: the first line of
// /proc/stat less idle and iowait (guest time is already in user).
func procStatBusy() (uint64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, false
	}
	var busy uint64
	for i, s := range f[1:9] { // user nice system idle iowait irq softirq steal
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, false
		}
		if i != 3 && i != 4 {
			busy += v
		}
	}
	return busy, true
}

// procSelfTicks returns this process's utime+stime from /proc/self/stat.
func procSelfTicks() (uint64, bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may hold spaces; fields resume after ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return u + s, true
}
