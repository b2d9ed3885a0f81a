package quorum

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestDataDriven runs the scripts under testdata. Each script uses two
// commands:
//
//	committed cfg=(1,2,3) [cfgj=(1,2)] [idx=(10,20,_)] [others=(9:100)]
//	vote      cfg=(1,2,3) [cfgj=(1,2)] [votes=(y,n,_)] [others=(9:y)]
//
// cfg lists the incoming (or only) voters and cfgj the outgoing ones; an
// argument written as cfgj=() is an empty outgoing half. Giving cfgj at all
// turns the case into a JointConfig. idx and votes hold one value per voter,
// in "voter order": the IDs of cfg as written, then those of cfgj that cfg
// did not list. An index is a number or _ (the AckedIndexer does not know
// the voter); a vote is y (granted), n (rejected) or _ (pending). Leaving
// idx or votes out makes every value _. others gives acknowledgements or
// votes from IDs outside the configuration, as id:value pairs; they must
// not change the outcome.
//
// committed prints the Describe rendering and the committed index. vote
// prints, for each half, its quorum, the tally and its result, then for a
// joint configuration the combined result.
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			switch td.Cmd {
			case "committed":
				return runCommitted(t, td)
			case "vote":
				return runVote(t, td)
			}
			t.Fatalf("%s: unknown command %q", td.Pos, td.Cmd)
			return ""
		})
	})
}

// scriptCase is the configuration and per-voter values parsed from a
// directive line.
type scriptCase struct {
	cfg    JointConfig
	joint  bool
	order  []uint64          // voter order, see TestDataDriven
	vals   map[uint64]string // value given for each voter in order
	others map[uint64]string // values given for non-members
}

func parseCase(t *testing.T, td *datadriven.TestData, valKey string) scriptCase {
	t.Helper()
	sc := scriptCase{
		cfg:    JointConfig{MajorityConfig{}, nil},
		vals:   map[uint64]string{},
		others: map[uint64]string{},
	}
	var vals []string
	addIDs := func(half MajorityConfig, raw []string) {
		for _, s := range raw {
			s = strings.TrimSpace(s)
			if s == "" {
				continue // cfg=() parses as a single empty value
			}
			id, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				t.Fatalf("%s: bad voter ID %q", td.Pos, s)
			}
			half[id] = struct{}{}
		}
	}
	for _, arg := range td.CmdArgs {
		switch arg.Key {
		case "cfg":
			addIDs(sc.cfg[0], arg.Vals)
		case "cfgj":
			sc.joint = true
			sc.cfg[1] = MajorityConfig{}
			addIDs(sc.cfg[1], arg.Vals)
		case valKey:
			vals = arg.Vals
		case "others":
			for _, kv := range arg.Vals {
				k, v, ok := strings.Cut(strings.TrimSpace(kv), ":")
				id, err := strconv.ParseUint(k, 10, 64)
				if !ok || err != nil {
					t.Fatalf("%s: bad others entry %q, want id:value", td.Pos, kv)
				}
				sc.others[id] = v
			}
		default:
			t.Fatalf("%s: unknown argument %q", td.Pos, arg.Key)
		}
	}
	// Arguments may come in any order on the line, so the voter order is
	// built once all of them are known: cfg's IDs first, then cfgj's.
	for _, s := range argVals(td, "cfg") {
		appendID(&sc.order, s)
	}
	for _, s := range argVals(td, "cfgj") {
		appendID(&sc.order, s)
	}
	if vals == nil {
		for range sc.order {
			vals = append(vals, "_")
		}
	}
	if len(vals) != len(sc.order) {
		t.Fatalf("%s: %d values for %d voters", td.Pos, len(vals), len(sc.order))
	}
	for i, id := range sc.order {
		sc.vals[id] = strings.TrimSpace(vals[i])
	}
	for id := range sc.others {
		if _, ok := sc.vals[id]; ok {
			t.Fatalf("%s: others lists voter %d", td.Pos, id)
		}
	}
	return sc
}

func argVals(td *datadriven.TestData, key string) []string {
	arg, ok := td.Arg(key)
	if !ok {
		return nil
	}
	return arg.Vals
}

// appendID appends the ID written as s unless it is blank or already there.
func appendID(order *[]uint64, s string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return
	}
	id, _ := strconv.ParseUint(s, 10, 64) // validated by parseCase
	for _, have := range *order {
		if have == id {
			return
		}
	}
	*order = append(*order, id)
}

func runCommitted(t *testing.T, td *datadriven.TestData) string {
	sc := parseCase(t, td, "idx")
	acks := MapAckIndexer{}
	parseIdx := func(id uint64, s string) {
		if s == "_" {
			return
		}
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s: bad index %q", td.Pos, s)
		}
		acks[id] = Index(n)
	}
	for id, s := range sc.vals {
		parseIdx(id, s)
	}
	for id, s := range sc.others {
		parseIdx(id, s)
	}

	var b strings.Builder
	var got Index
	if sc.joint {
		b.WriteString(sc.cfg.Describe(acks))
		got = sc.cfg.CommittedIndex(acks)
		if want := naiveJointCommitted(sc.cfg, acks); got != want {
			t.Errorf("%s: CommittedIndex %s, naive computation says %s", td.Pos, got, want)
		}
	} else {
		b.WriteString(sc.cfg[0].Describe(acks))
		got = sc.cfg[0].CommittedIndex(acks)
		if want := naiveCommitted(sc.cfg[0], acks); got != want {
			t.Errorf("%s: CommittedIndex %s, naive computation says %s", td.Pos, got, want)
		}
	}
	if !strings.HasSuffix(b.String(), "\n") {
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "committed %s\n", got)
	return b.String()
}

func runVote(t *testing.T, td *datadriven.TestData) string {
	sc := parseCase(t, td, "votes")
	votes := map[uint64]bool{}
	parseVote := func(id uint64, s string) {
		switch s {
		case "y":
			votes[id] = true
		case "n":
			votes[id] = false
		case "_":
		default:
			t.Fatalf("%s: bad vote %q, want y, n or _", td.Pos, s)
		}
	}
	for id, s := range sc.vals {
		parseVote(id, s)
	}
	for id, s := range sc.others {
		parseVote(id, s)
	}

	var b strings.Builder
	tally := func(name string, c MajorityConfig) {
		granted, rejected, pending := 0, 0, 0
		for id := range c {
			v, ok := votes[id]
			switch {
			case !ok:
				pending++
			case v:
				granted++
			default:
				rejected++
			}
		}
		r := c.VoteResult(votes)
		if want := naiveVote(c, votes); r != want {
			t.Errorf("%s: VoteResult %s, naive computation says %s", td.Pos, r, want)
		}
		if len(c) == 0 {
			fmt.Fprintf(&b, "%s%s: no voters: %s\n", name, c, r)
			return
		}
		fmt.Fprintf(&b, "%s%s: quorum %d of %d: granted %d, rejected %d, pending %d: %s\n",
			name, c, len(c)/2+1, len(c), granted, rejected, pending, r)
	}
	if !sc.joint {
		tally("", sc.cfg[0])
		return b.String()
	}
	tally("incoming ", sc.cfg[0])
	tally("outgoing ", sc.cfg[1])
	r := sc.cfg.VoteResult(votes)
	if want := naiveJointVote(sc.cfg, votes); r != want {
		t.Errorf("%s: joint VoteResult %s, naive computation says %s", td.Pos, r, want)
	}
	fmt.Fprintf(&b, "joint %s: %s\n", sc.cfg, r)
	return b.String()
}
