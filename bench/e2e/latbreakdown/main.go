// Command latbreakdown reads the stage marks (internal/lattrace) that a
// one-client run of bench/e2e left and prints where a put's time goes: for
// each stage on the client, the leader and each follower, the median time
// since the client called put, over every put. See bench/PROFILE.md.
//
//	go build -tags lattrace -o /tmp/raftkv ../../examples/raftkv/cmd/raftkv
//	LATTRACE=/tmp/tr/ev go run -tags lattrace . -runs 1 -duration 3s -clients 1 \
//	    -values 16 -get-clients 0 -systems raftkv -raftkv /tmp/raftkv
//	go run ./latbreakdown /tmp/tr
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	lt "github.com/tickraft/raft/internal/lattrace"
)

type event struct {
	t     int64
	stage uint8
	idx   uint64
}

type proc struct {
	name string
	evs  []event // by time
}

var nodeID = regexp.MustCompile(` -id (\d+) `)

func load(path string) (*proc, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p := &proc{name: "client"}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			if m := nodeID.FindStringSubmatch(line + " "); m != nil {
				p.name = "node" + m[1]
			}
			continue
		}
		var e event
		var st uint64
		if _, err := fmt.Sscan(line, &e.t, &st, &e.idx); err != nil {
			return nil, fmt.Errorf("%s: %q: %w", path, line, err)
		}
		e.stage = uint8(st)
		p.evs = append(p.evs, e)
	}
	slices.SortStableFunc(p.evs, func(a, b event) int { return int(a.t - b.t) })
	return p, sc.Err()
}

// nth is the time of the n-th (from 0) event of stage in [t0, t1], with
// index idx unless idx is 0; -1 if none.
func (p *proc) nth(stage uint8, t0, t1 int64, idx uint64, n int) int64 {
	i := sort.Search(len(p.evs), func(i int) bool { return p.evs[i].t >= t0 })
	for ; i < len(p.evs) && p.evs[i].t <= t1; i++ {
		if e := p.evs[i]; e.stage == stage && (idx == 0 || e.idx == idx) {
			if n == 0 {
				return e.t
			}
			n--
		}
	}
	return -1
}

func (p *proc) count(stage uint8, t0, t1 int64) int {
	c := 0
	i := sort.Search(len(p.evs), func(i int) bool { return p.evs[i].t >= t0 })
	for ; i < len(p.evs) && p.evs[i].t <= t1; i++ {
		if p.evs[i].stage == stage {
			c++
		}
	}
	return c
}

type stage struct {
	name  string
	st    uint8
	keyed bool // matched by the put's entry index
	n     int  // the n-th such event
	after uint8
}

// leaderStages and followerStages are the stages printed, in path order.
var leaderStages = []stage{
	{name: "request decoded", st: lt.SRead},
	{name: "Propose called", st: lt.SPropose},
	{name: "proposal stepped", st: lt.RStepProp},
	{name: "MsgApp to transport", st: lt.RSendApp, keyed: true},
	{name: "append to storage", st: lt.RReadyEnt, keyed: true},
	{name: "MsgApp written (1st)", st: lt.TWrite, keyed: true},
	{name: "MsgApp written (2nd)", st: lt.TWrite, keyed: true, n: 1},
	{name: "wal Save start", st: lt.STSaveStart, keyed: true},
	{name: "wal Save end", st: lt.STSaveEnd, after: lt.STSaveStart},
	{name: "MsgAppResp read (1st)", st: lt.TRecv, keyed: true},
	{name: "MsgAppResp read (2nd)", st: lt.TRecv, keyed: true, n: 1},
	{name: "MsgAppResp stepped (1st)", st: lt.RStepResp, keyed: true},
	{name: "MsgAppResp stepped (2nd)", st: lt.RStepResp, keyed: true, n: 1},
	{name: "committed, to apply", st: lt.RReadyCommit, keyed: true},
	{name: "apply start", st: lt.AStart, keyed: true},
	{name: "apply done", st: lt.ADone, after: lt.AStart},
	{name: "Propose returned", st: lt.SProposed},
	{name: "answer written", st: lt.SAnswer, after: lt.SProposed},
}

var followerStages = []stage{
	{name: "MsgApp read", st: lt.TRecv, keyed: true},
	{name: "append to storage", st: lt.RReadyEnt, keyed: true},
	{name: "wal Save start", st: lt.STSaveStart, keyed: true},
	{name: "wal Save end", st: lt.STSaveEnd, after: lt.STSaveStart},
	{name: "MsgAppResp written", st: lt.TWrite, keyed: true},
}

type row struct {
	who, what string
	ts        []float64 // µs since put was called
}

func main() {
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: latbreakdown DIR (the $LATTRACE directory)")
		os.Exit(2)
	}
	files, _ := filepath.Glob(filepath.Join(flag.Arg(0), "*.[0-9]*"))
	var client, leader *proc
	var followers []*proc
	for _, f := range files {
		p, err := load(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		switch {
		case p.name == "client":
			client = p
		case slices.ContainsFunc(p.evs, func(e event) bool { return e.stage == lt.RStepProp }):
			leader = p
		default:
			followers = append(followers, p)
		}
	}
	if client == nil || leader == nil {
		fmt.Fprintln(os.Stderr, "latbreakdown: no client or no leader marks")
		os.Exit(1)
	}
	sort.Slice(followers, func(i, j int) bool { return followers[i].name < followers[j].name })
	// The puts: a call and the return after it; the first fifth is dropped
	// (connection set-up, warmup).
	type put struct{ t0, t1 int64 }
	var puts []put
	var open int64 = -1
	for _, e := range client.evs {
		switch {
		case e.stage == lt.CCall:
			open = e.t
		case e.stage == lt.CDone && open >= 0:
			puts = append(puts, put{open, e.t})
			open = -1
		}
	}
	puts = puts[len(puts)/5:]
	rows := map[string]*row{}
	add := func(who, what string, t, t0 int64) {
		if t < 0 {
			return
		}
		k := who + "\x00" + what
		r := rows[k]
		if r == nil {
			r = &row{who: who, what: what}
			rows[k] = r
		}
		r.ts = append(r.ts, float64(t-t0)/1e3)
	}
	wakes := map[string][]float64{}
	used := 0
	for _, pt := range puts {
		idx := uint64(0)
		if t := leader.nth(lt.RReadyEnt, pt.t0, pt.t1, 0, 0); t >= 0 {
			for _, e := range leader.evs {
				if e.t == t && e.stage == lt.RReadyEnt {
					idx = e.idx
					break
				}
			}
		}
		if idx == 0 {
			continue
		}
		used++
		add("client", "put returned", pt.t1, pt.t0)
		walk := func(p *proc, who string, stages []stage) {
			at := map[uint8]int64{}
			for _, s := range stages {
				key := uint64(0)
				if s.keyed {
					key = idx
				}
				from := pt.t0
				if s.after != 0 {
					if from = at[s.after]; from < 0 {
						continue
					}
				}
				t := p.nth(s.st, from, pt.t1, key, s.n)
				if s.n == 0 {
					at[s.st] = t
				}
				add(who, s.name, t, pt.t0)
			}
			wakes[who] = append(wakes[who], float64(p.count(lt.RWake, pt.t0, pt.t1)))
		}
		walk(leader, "leader", leaderStages)
		for _, f := range followers {
			walk(f, f.name, followerStages)
		}
	}
	var out []*row
	for _, r := range rows {
		sort.Float64s(r.ts)
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return med(out[i].ts) < med(out[j].ts) })
	fmt.Printf("%d puts (of %d after the first fifth); µs since put was called\n", used, len(puts))
	fmt.Printf("| %-8s | %-26s | %7s | %7s | %7s | %6s |\n", "process", "stage", "p50", "p25", "p75", "n")
	fmt.Printf("|%s|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 10), strings.Repeat("-", 28), strings.Repeat("-", 9), strings.Repeat("-", 9), strings.Repeat("-", 9), strings.Repeat("-", 8))
	for _, r := range out {
		fmt.Printf("| %-8s | %-26s | %7.1f | %7.1f | %7.1f | %6d |\n", r.who, r.what, med(r.ts), q(r.ts, 0.25), q(r.ts, 0.75), len(r.ts))
	}
	var names []string
	for k := range wakes {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := wakes[k]
		sort.Float64s(v)
		fmt.Printf("raft loop wake-ups per put, %s: median %s\n", k, strconv.FormatFloat(med(v), 'f', -1, 64))
	}
}

func med(v []float64) float64 { return q(v, 0.5) }

func q(v []float64, f float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return v[int(f*float64(len(v)-1))]
}
