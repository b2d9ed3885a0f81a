package chaos

import (
	"encoding/json"
	"os"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Op is one client operation in a history. Times are nanoseconds since
// the recorder started; Return is Infinity when the outcome is unknown.
type Op struct {
	Client int    `json:"client"`
	In     Input  `json:"in"`
	Out    Output `json:"out"`
	Call   int64  `json:"call"`
	Return int64  `json:"return"`
	Node   string `json:"node,omitempty"` // the API address that answered (or was tried last)
	Err    string `json:"err,omitempty"`  // why the outcome is unknown
}

// Recorder collects a history from concurrent clients. Each client id is
// used by one goroutine at a time; after an operation with an unknown
// outcome the client takes a fresh id (the unknown operation never returns,
// so the old id has no next operation), as etcd's robustness tests do.
type Recorder struct {
	start time.Time

	mu      sync.Mutex
	ops     []Op
	clients int
}

// NewRecorder starts the clock of a history.
func NewRecorder() *Recorder { return &Recorder{start: time.Now()} }

// Now is the time in the history's clock.
func (r *Recorder) Now() int64 { return int64(time.Since(r.start)) }

// At converts a wall time into the history's clock.
func (r *Recorder) At(t time.Time) int64 { return int64(t.Sub(r.start)) }

// NewClient returns an unused client id.
func (r *Recorder) NewClient() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clients++
	return r.clients - 1
}

// Add records an operation (Unknown outputs get an infinite return).
func (r *Recorder) Add(op Op) {
	if op.Out.Unknown {
		op.Return = Infinity
	}
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.mu.Unlock()
}

// Ops returns a copy of the history.
func (r *Recorder) Ops() []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Op(nil), r.ops...)
}

// Porcupine converts a history for the checker. Reads with unknown
// outcomes are left out: they observed nothing and changed nothing.
func Porcupine(ops []Op) []porcupine.Operation {
	out := make([]porcupine.Operation, 0, len(ops))
	for _, op := range ops {
		if op.In.Op == OpGet && op.Out.Unknown {
			continue
		}
		out = append(out, porcupine.Operation{ClientId: op.Client, Input: op.In, Output: op.Out,
			Call: op.Call, Return: op.Return, Metadata: op.Node})
	}
	return out
}

// WriteJSON saves a history (one file, for replay and inspection).
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
