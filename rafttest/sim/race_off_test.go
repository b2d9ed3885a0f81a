//go:build !race

package sim

// raceEnabled is true when the race detector is on: it slows the
// simulator down, and TestSimulation runs fewer seeds by default.
const raceEnabled = false
