//go:build lattrace

package lattrace

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// On says whether marks are recorded.
var On = os.Getenv("LATTRACE") != ""

type ev struct {
	t     int64
	stage uint8
	idx   uint64
}

var (
	mu   sync.Mutex
	evs  []ev
	file *os.File
)

func init() {
	if !On {
		return
	}
	f, err := os.Create(fmt.Sprintf("%s.%d", os.Getenv("LATTRACE"), os.Getpid()))
	if err != nil {
		On = false
		return
	}
	file = f
	fmt.Fprintf(f, "# %s\n", strings.Join(os.Args, " "))
	evs = make([]ev, 0, 1<<16)
	go func() {
		var out []ev
		for {
			time.Sleep(200 * time.Millisecond)
			mu.Lock()
			out, evs = evs, out[:0]
			mu.Unlock()
			w := bufio.NewWriter(file)
			for _, e := range out {
				fmt.Fprintf(w, "%d %d %d\n", e.t, e.stage, e.idx)
			}
			w.Flush()
		}
	}()
}

// Mark records stage for index idx now.
func Mark(stage uint8, idx uint64) {
	if !On {
		return
	}
	t := time.Now().UnixNano()
	mu.Lock()
	evs = append(evs, ev{t, stage, idx})
	mu.Unlock()
}
