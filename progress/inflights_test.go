package progress

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// elems lists the window's elements oldest first, as (index, bytes) pairs.
func (in *Inflights) elems() []inflight {
	var out []inflight
	for i := 0; i < in.count; i++ {
		out = append(out, in.buffer[in.pos(i)])
	}
	return out
}

// checkSum asserts that the byte total matches the elements in the window.
func checkSum(t *testing.T, in *Inflights) {
	t.Helper()
	var sum uint64
	for _, e := range in.elems() {
		sum += e.bytes
	}
	require.Equal(t, sum, in.Bytes(), "byte total drifted from the elements")
}

func TestNewInflightsRejectsNonPositiveSize(t *testing.T) {
	require.Panics(t, func() { NewInflights(0, 0) })
	require.Panics(t, func() { NewInflights(-3, 0) })
}

func TestInflightsCountLimit(t *testing.T) {
	in := NewInflights(4, 0)
	for i := uint64(1); i <= 4; i++ {
		require.False(t, in.Full(), "full before adding %d", i)
		in.Add(i, 1000) // bytes do not matter without a byte limit
	}
	require.True(t, in.Full())
	require.Equal(t, 4, in.Count())
	require.Equal(t, uint64(4000), in.Bytes())
	requireViolation(t, "Inflights.Add on a window with room", func() { in.Add(5, 1) })

	in.FreeLE(1)
	require.False(t, in.Full())
	require.Equal(t, 3, in.Count())
	in.Add(5, 1)
	require.True(t, in.Full())
}

func TestInflightsByteLimitBeforeCountLimit(t *testing.T) {
	in := NewInflights(10, 100)
	in.Add(1, 40)
	in.Add(2, 40)
	require.False(t, in.Full(), "80 of 100 bytes")
	in.Add(3, 30)
	require.True(t, in.Full(), "110 of 100 bytes")
	require.Equal(t, 3, in.Count())
	require.Panics(t, func() { in.Add(4, 1) })

	in.FreeLE(1)
	require.False(t, in.Full(), "70 of 100 bytes")
	require.Equal(t, uint64(70), in.Bytes())

	// Reaching the limit exactly counts as full.
	in.Add(4, 30)
	require.True(t, in.Full())
	checkSum(t, in)
}

func TestInflightsOversizedMessage(t *testing.T) {
	in := NewInflights(10, 100)
	in.Add(7, 500) // allowed: the window was not full before it
	require.True(t, in.Full())
	require.Equal(t, 1, in.Count())
	in.FreeLE(7)
	require.False(t, in.Full())
	require.Zero(t, in.Bytes())
}

func TestInflightsNonIncreasingIndexPanics(t *testing.T) {
	in := NewInflights(10, 0)
	in.Add(5, 1)
	requireViolation(t, "Inflights.Add with increasing indexes", func() { in.Add(5, 1) })
	require.Panics(t, func() { in.Add(4, 1) })
	require.Equal(t, 1, in.Count())
}

func TestInflightsGrowsByDoublingUpToSize(t *testing.T) {
	in := NewInflights(5, 0)
	require.Empty(t, in.buffer, "nothing allocated before the first add")
	var lens []int
	for i := uint64(1); i <= 5; i++ {
		in.Add(i, i)
		lens = append(lens, len(in.buffer))
	}
	require.Equal(t, []int{1, 2, 4, 4, 5}, lens)
	checkSum(t, in)
}

func TestInflightsWrapAround(t *testing.T) {
	in := NewInflights(8, 0)
	for i := uint64(1); i <= 8; i++ {
		in.Add(i*10, i)
	}
	require.True(t, in.Full())
	require.Len(t, in.buffer, 8)

	// Free the first half: the window now starts in the middle.
	in.FreeLE(40)
	require.Equal(t, 4, in.start)
	require.Equal(t, 4, in.Count())
	require.Equal(t, uint64(5+6+7+8), in.Bytes())

	// The next adds land at the front of the array, behind the window.
	for i := uint64(9); i <= 12; i++ {
		in.Add(i*10, i)
	}
	require.True(t, in.Full())
	require.Equal(t, 4, in.start)
	require.Equal(t, []inflight{
		{90, 9}, {100, 10}, {110, 11}, {120, 12}, // positions 0..3
		{50, 5}, {60, 6}, {70, 7}, {80, 8}, // positions 4..7
	}, in.buffer)
	require.Equal(t, []inflight{
		{50, 5}, {60, 6}, {70, 7}, {80, 8},
		{90, 9}, {100, 10}, {110, 11}, {120, 12},
	}, in.elems())
	checkSum(t, in)

	// Free across the end of the array.
	in.FreeLE(95)
	require.Equal(t, 1, in.start)
	require.Equal(t, []inflight{{100, 10}, {110, 11}, {120, 12}}, in.elems())
	checkSum(t, in)

	in.FreeLE(120)
	require.Zero(t, in.Count())
	require.Zero(t, in.Bytes())
	require.Zero(t, in.start)
	require.False(t, in.Full())
}

func TestInflightsGrowWhileWrapped(t *testing.T) {
	// Wrap inside a small backing array, then make it grow: the elements
	// must come out in order.
	in := NewInflights(16, 0)
	for i := uint64(1); i <= 4; i++ {
		in.Add(i, 1)
	}
	require.Len(t, in.buffer, 4)
	in.FreeLE(2)
	in.Add(5, 1)
	in.Add(6, 1) // array is [5 6 3 4], start 2
	require.Equal(t, 2, in.start)
	in.Add(7, 1) // grows to 8
	require.Len(t, in.buffer, 8)
	require.Zero(t, in.start)
	require.Equal(t, []uint64{3, 4, 5, 6, 7}, indexes(in))
	checkSum(t, in)
}

func indexes(in *Inflights) []uint64 {
	var out []uint64
	for _, e := range in.elems() {
		out = append(out, e.index)
	}
	return out
}

func TestInflightsFreeBeyondEverything(t *testing.T) {
	in := NewInflights(5, 0)
	in.Add(3, 10)
	in.Add(6, 20)
	in.Add(9, 30)
	in.FreeLE(1000)
	require.Zero(t, in.Count())
	require.Zero(t, in.Bytes())
	// Freeing an empty window is harmless.
	in.FreeLE(2000)
	require.Zero(t, in.Count())
	// And the window is usable again.
	in.Add(1001, 5)
	require.Equal(t, []uint64{1001}, indexes(in))
}

func TestInflightsFreeBelowFirstIsNoop(t *testing.T) {
	in := NewInflights(5, 0)
	in.Add(5, 10)
	in.Add(6, 20)
	before := in.Clone()
	in.FreeLE(4)
	in.FreeLE(0)
	require.Equal(t, before, in)
}

func TestInflightsReset(t *testing.T) {
	in := NewInflights(4, 100)
	for i := uint64(1); i <= 4; i++ {
		in.Add(i, 25)
	}
	in.FreeLE(2)
	in.Add(5, 1)
	buf := in.buffer
	in.reset()
	require.Zero(t, in.Count())
	require.Zero(t, in.Bytes())
	require.False(t, in.Full())
	require.Zero(t, in.start)
	require.Equal(t, &buf[0], &in.buffer[0], "reset keeps the backing array")
	// Indexes may start over after a reset.
	in.Add(1, 1)
	require.Equal(t, []uint64{1}, indexes(in))
}

func TestInflightsClone(t *testing.T) {
	in := NewInflights(4, 0)
	in.Add(1, 1)
	in.Add(2, 2)
	c := in.Clone()
	require.Equal(t, in, c)

	in.Add(3, 3)
	in.FreeLE(1)
	require.Equal(t, []uint64{1, 2}, indexes(c), "clone unaffected by the original")
	require.Equal(t, uint64(3), c.Bytes())

	c.FreeLE(2)
	c.Add(10, 10)
	require.Equal(t, []uint64{2, 3}, indexes(in), "original unaffected by the clone")
	require.Equal(t, uint64(5), in.Bytes())

	// Cloning a window that never allocated.
	e := NewInflights(3, 7).Clone()
	require.Zero(t, e.Count())
	e.Add(1, 1)
	require.Equal(t, 1, e.Count())
}

// TestInflightsModel drives random Add/FreeLE/reset sequences against a
// plain slice and checks that the ring agrees with it after every step, in
// particular that the byte total never drifts.
func TestInflightsModel(t *testing.T) {
	for seed := uint64(0); seed < 50; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		size := 1 + rng.IntN(12)
		var maxBytes uint64
		if rng.IntN(2) == 0 {
			maxBytes = 1 + rng.Uint64N(200)
		}
		in := NewInflights(size, maxBytes)
		var model []inflight
		var modelBytes uint64
		next := uint64(1)

		for step := 0; step < 2000; step++ {
			full := len(model) == size || (maxBytes != 0 && modelBytes >= maxBytes)
			require.Equal(t, full, in.Full(), "seed %d step %d", seed, step)

			switch op := rng.IntN(10); {
			case op < 5: // add
				next += 1 + rng.Uint64N(3)
				b := rng.Uint64N(60)
				if full {
					require.Panics(t, func() { in.Add(next, b) })
					continue
				}
				in.Add(next, b)
				model = append(model, inflight{next, b})
				modelBytes += b
			case op < 9: // free, anywhere from below the window to past it
				var to uint64
				if next > 5 {
					to = next - 5 + rng.Uint64N(8)
				} else {
					to = rng.Uint64N(next + 3)
				}
				in.FreeLE(to)
				for len(model) > 0 && model[0].index <= to {
					modelBytes -= model[0].bytes
					model = model[1:]
				}
			default:
				in.reset()
				model, modelBytes = nil, 0
			}

			require.Equal(t, len(model), in.Count(), "seed %d step %d", seed, step)
			require.Equal(t, modelBytes, in.Bytes(), "seed %d step %d", seed, step)
			if len(model) == 0 {
				require.Empty(t, in.elems())
			} else {
				require.Equal(t, model, in.elems(), "seed %d step %d", seed, step)
			}
			require.LessOrEqual(t, len(in.buffer), size)
		}
	}
}

func TestInflightsSteadyStateAllocatesNothing(t *testing.T) {
	const size = 16
	in := NewInflights(size, 1<<20)
	idx := uint64(0)
	// Warm up: fill the window once so the backing array reaches size.
	for i := 0; i < size; i++ {
		idx++
		in.Add(idx, 100)
	}
	in.FreeLE(idx)
	require.Len(t, in.buffer, size)

	allocs := testing.AllocsPerRun(200, func() {
		// Keep a few messages in flight so the ring wraps at varying spots.
		for i := 0; i < 5; i++ {
			idx++
			in.Add(idx, 100)
		}
		in.FreeLE(idx - 2)
	})
	require.Zero(t, allocs)
}

func BenchmarkInflightsAddFree(b *testing.B) {
	in := NewInflights(256, 0)
	idx := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		idx++
		in.Add(idx, 64)
		if in.Count() > 128 {
			in.FreeLE(idx - 64)
		}
	}
}
