package quorum

import (
	"math"
	"math/rand/v2"
	"testing"
)

const propertyCases = 5000

// newRand returns a generator with a fixed seed so that failures reproduce.
func newRand(t *testing.T) *rand.Rand {
	t.Helper()
	return rand.New(rand.NewPCG(0x7ac4, uint64(len(t.Name()))))
}

// randConfig draws a configuration of 0 to 11 voters with IDs from 1 to
// 14, so that two draws often overlap.
func randConfig(r *rand.Rand) MajorityConfig {
	n := r.IntN(12)
	c := MajorityConfig{}
	for len(c) < n {
		c[1+r.Uint64N(14)] = struct{}{}
	}
	return c
}

// randAcks gives a random acknowledged index to each ID from 1 to 16,
// leaving some out. Indexes come from a small range, so ties are common,
// with the odd huge one to exercise the top of the range; IDs 15 and 16 are
// never voters and must not matter.
func randAcks(r *rand.Rand) MapAckIndexer {
	acks := MapAckIndexer{}
	for id := uint64(1); id <= 16; id++ {
		switch k := r.IntN(10); {
		case k == 0:
			// unknown to the indexer
		case k == 1:
			acks[id] = Index(math.MaxUint64 - r.Uint64N(3))
		default:
			acks[id] = Index(r.Uint64N(8))
		}
	}
	return acks
}

// randVotes records a random vote, or none, for each ID from 1 to 16.
func randVotes(r *rand.Rand) map[uint64]bool {
	votes := map[uint64]bool{}
	for id := uint64(1); id <= 16; id++ {
		switch r.IntN(3) {
		case 0:
			votes[id] = true
		case 1:
			votes[id] = false
		}
	}
	return votes
}

func TestMajorityCommittedIndexMatchesNaive(t *testing.T) {
	r := newRand(t)
	for range propertyCases {
		c, acks := randConfig(r), randAcks(r)
		if got, want := c.CommittedIndex(acks), naiveCommitted(c, acks); got != want {
			t.Fatalf("%s with acks %v: CommittedIndex %s, want %s", c, acks, got, want)
		}
	}
}

func TestJointCommittedIndexMatchesNaive(t *testing.T) {
	r := newRand(t)
	for range propertyCases {
		c := JointConfig{randConfig(r), randConfig(r)}
		acks := randAcks(r)
		if got, want := c.CommittedIndex(acks), naiveJointCommitted(c, acks); got != want {
			t.Fatalf("%s with acks %v: CommittedIndex %s, want %s", c, acks, got, want)
		}
	}
}

func TestMajorityVoteResultMatchesNaive(t *testing.T) {
	r := newRand(t)
	for range propertyCases {
		c, votes := randConfig(r), randVotes(r)
		if got, want := c.VoteResult(votes), naiveVote(c, votes); got != want {
			t.Fatalf("%s with votes %v: VoteResult %s, want %s", c, votes, got, want)
		}
	}
}

func TestJointVoteResultMatchesNaive(t *testing.T) {
	r := newRand(t)
	for range propertyCases {
		c := JointConfig{randConfig(r), randConfig(r)}
		votes := randVotes(r)
		if got, want := c.VoteResult(votes), naiveJointVote(c, votes); got != want {
			t.Fatalf("%s with votes %v: VoteResult %s, want %s", c, votes, got, want)
		}
	}
}

// TestJointWithEmptyOutgoingIsMajority checks that a JointConfig outside a
// membership change answers exactly like its incoming half, whether the
// outgoing half is nil or an empty map.
func TestJointWithEmptyOutgoingIsMajority(t *testing.T) {
	r := newRand(t)
	for range propertyCases {
		c, acks, votes := randConfig(r), randAcks(r), randVotes(r)
		for _, j := range []JointConfig{{c, nil}, {c, MajorityConfig{}}} {
			if got, want := j.CommittedIndex(acks), c.CommittedIndex(acks); got != want {
				t.Fatalf("%s with acks %v: joint CommittedIndex %s, majority %s", c, acks, got, want)
			}
			if got, want := j.VoteResult(votes), c.VoteResult(votes); got != want {
				t.Fatalf("%s with votes %v: joint VoteResult %s, majority %s", c, votes, got, want)
			}
		}
	}
}

// TestCommittedIndexMonotonic checks that a voter acknowledging more never
// lowers the committed index, in either kind of configuration.
func TestCommittedIndexMonotonic(t *testing.T) {
	r := newRand(t)
	for range propertyCases {
		c := JointConfig{randConfig(r), randConfig(r)}
		acks := randAcks(r)
		before := c.CommittedIndex(acks)
		beforeIn := c[0].CommittedIndex(acks)
		id := 1 + r.Uint64N(16)
		if acks[id] < math.MaxUint64 {
			acks[id] += Index(1 + r.Uint64N(uint64(math.MaxUint64-acks[id])))
		}
		if after := c.CommittedIndex(acks); after < before {
			t.Fatalf("%s: raising voter %d to %s lowered the committed index from %s to %s",
				c, id, acks[id], before, after)
		}
		if after := c[0].CommittedIndex(acks); after < beforeIn {
			t.Fatalf("%s: raising voter %d to %s lowered the committed index from %s to %s",
				c[0], id, acks[id], beforeIn, after)
		}
	}
}

// TestVoteResultSettles checks that once an election is won or lost, any
// further votes from the pending voters leave the result unchanged.
func TestVoteResultSettles(t *testing.T) {
	r := newRand(t)
	for range propertyCases {
		c := JointConfig{randConfig(r), randConfig(r)}
		votes := randVotes(r)
		before := c.VoteResult(votes)
		if before == VotePending {
			continue
		}
		for id := range c.IDs() {
			if _, ok := votes[id]; !ok {
				votes[id] = r.IntN(2) == 0
			}
		}
		if after := c.VoteResult(votes); after != before {
			t.Fatalf("%s: result moved from %s to %s once pending votes arrived", c, before, after)
		}
	}
}
