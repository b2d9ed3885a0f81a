package quorum

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIndexString(t *testing.T) {
	require.Equal(t, "0", Index(0).String())
	require.Equal(t, "42", Index(42).String())
	require.Equal(t, "18446744073709551614", Index(math.MaxUint64-1).String())
	require.Equal(t, "∞", Index(math.MaxUint64).String())
}

func TestVoteResultString(t *testing.T) {
	require.Equal(t, "VotePending", VotePending.String())
	require.Equal(t, "VoteLost", VoteLost.String())
	require.Equal(t, "VoteWon", VoteWon.String())
	require.Equal(t, "VoteResult(0)", VoteResult(0).String())
}

func TestMapAckIndexer(t *testing.T) {
	var l AckedIndexer = MapAckIndexer{1: 5, 2: 0}
	idx, ok := l.AckedIndex(1)
	require.True(t, ok)
	require.Equal(t, Index(5), idx)
	idx, ok = l.AckedIndex(2)
	require.True(t, ok)
	require.Equal(t, Index(0), idx)
	_, ok = l.AckedIndex(3)
	require.False(t, ok)
}

func TestMajorityConfigStringAndSlice(t *testing.T) {
	require.Equal(t, "()", MajorityConfig{}.String())
	require.Equal(t, "()", MajorityConfig(nil).String())
	c := MajorityConfig{3: {}, 10: {}, 1: {}}
	require.Equal(t, "(1 3 10)", c.String())
	require.Equal(t, []uint64{1, 3, 10}, c.Slice())
	require.Empty(t, MajorityConfig(nil).Slice())
}

func TestJointConfigStringAndIDs(t *testing.T) {
	in := MajorityConfig{1: {}, 2: {}, 3: {}}
	out := MajorityConfig{2: {}, 4: {}}
	require.Equal(t, "(1 2 3)", JointConfig{in, nil}.String())
	require.Equal(t, "(1 2 3)", JointConfig{in, MajorityConfig{}}.String())
	require.Equal(t, "(1 2 3)&&(2 4)", JointConfig{in, out}.String())
	require.Equal(t, "()", JointConfig{}.String())

	ids := JointConfig{in, out}.IDs()
	require.Equal(t, map[uint64]struct{}{1: {}, 2: {}, 3: {}, 4: {}}, ids)
	// IDs returns a fresh set: changing it leaves the halves alone.
	ids[9] = struct{}{}
	require.NotContains(t, in, uint64(9))
	require.NotContains(t, out, uint64(9))
	require.Empty(t, JointConfig{}.IDs())
}

func TestEmptyConfigs(t *testing.T) {
	acks := MapAckIndexer{1: 7}
	require.Equal(t, Index(math.MaxUint64), MajorityConfig{}.CommittedIndex(acks))
	require.Equal(t, Index(math.MaxUint64), JointConfig{}.CommittedIndex(acks))
	require.Equal(t, VoteWon, MajorityConfig(nil).VoteResult(nil))
	require.Equal(t, VoteWon, JointConfig{}.VoteResult(map[uint64]bool{1: false}))
	require.Equal(t, "<no voters>", MajorityConfig{}.Describe(acks))
}
