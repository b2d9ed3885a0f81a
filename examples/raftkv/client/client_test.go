package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickraft/raft/examples/raftkv/api"
)

// fake is a scripted node: answers pops the next reply for each write.
type fake struct {
	mu      sync.Mutex
	writes  []api.WriteRequest
	answers []func(w http.ResponseWriter)
	srv     *httptest.Server
}

func newFake(t *testing.T) *fake {
	f := &fake{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		switch r.URL.Path {
		case "/v1/sessions":
			json.NewEncoder(w).Encode(api.RegisterResponse{ClientID: 77})
		case "/v1/kv":
			var req api.WriteRequest
			json.NewDecoder(r.Body).Decode(&req)
			f.writes = append(f.writes, req)
			if len(f.answers) == 0 {
				json.NewEncoder(w).Encode(api.WriteResponse{Op: req.Op, Key: req.Key, Version: 9})
				return
			}
			a := f.answers[0]
			f.answers = f.answers[1:]
			a(w)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

func apiError(status int, e api.Error) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(e)
	}
}

// TestRedirectAndRetrySameSeq: a not_leader answer sends the write to the
// named leader; a timeout (outcome unknown) is retried with the same
// session seq, so the state machine can deduplicate it; the next write
// takes the next seq and acknowledges the earlier ones.
func TestRedirectAndRetrySameSeq(t *testing.T) {
	leader, follower := newFake(t), newFake(t)
	follower.answers = []func(http.ResponseWriter){apiError(421, api.Error{Code: api.CodeNotLeader, Message: "m", LeaderID: 1, LeaderAPI: leader.addr()})}
	leader.answers = []func(http.ResponseWriter){apiError(504, api.Error{Code: api.CodeTimeout, Message: "m"})}
	c := New([]string{follower.addr()}, Options{})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := c.Put(ctx, "k", "v")
	if err != nil || v != 9 {
		t.Fatalf("Put = %d, %v", v, err)
	}
	// not_leader at the follower, timeout at the leader, then (the leader
	// guess dropped) the endpoints again.
	all := append(follower.writes, leader.writes...)
	if len(follower.writes) != 2 || len(leader.writes) != 1 {
		t.Fatalf("writes: follower %d, leader %d", len(follower.writes), len(leader.writes))
	}
	for _, w := range all {
		if w.ClientID != 77 || w.Seq != 1 {
			t.Fatalf("a retry changed the session or seq: %+v", w)
		}
	}
	if _, err := c.Put(ctx, "k2", "v"); err != nil {
		t.Fatal(err)
	}
	last := follower.writes[len(follower.writes)-1]
	if last.Seq != 2 || last.AckBelow != 2 {
		t.Fatalf("second write seq %d ack_below %d, want 2 and 2", last.Seq, last.AckBelow)
	}
}

// TestNoRetryOfRefusals: a refused condition is returned at once, and
// without a session an unknown outcome is not retried.
func TestNoRetryOfRefusals(t *testing.T) {
	n := newFake(t)
	n.answers = []func(http.ResponseWriter){apiError(409, api.Error{Code: api.CodeVersionMismatch, Message: "m", Version: 4})}
	c := New([]string{n.addr()}, Options{})
	ctx := context.Background()
	if _, err := c.CAS(ctx, "k", "v", 3); Code(err) != api.CodeVersionMismatch || len(n.writes) != 1 {
		t.Fatalf("CAS = %v after %d writes", err, len(n.writes))
	}
	n.writes = nil
	n.answers = []func(http.ResponseWriter){apiError(504, api.Error{Code: api.CodeTimeout, Message: "m"})}
	ns := New([]string{n.addr()}, Options{NoSession: true})
	if _, err := ns.Put(ctx, "k", "v"); Code(err) != api.CodeTimeout || len(n.writes) != 1 {
		t.Fatalf("sessionless Put = %v after %d writes (an unknown outcome must not be retried)", err, len(n.writes))
	}
	if n.writes[0].ClientID != 0 {
		t.Fatalf("sessionless write carried a session: %+v", n.writes[0])
	}
}

// TestExpiredSession: an expired session on a first attempt registers a
// new one and retries (nothing was applied); on a retry it is an unknown
// outcome.
func TestExpiredSession(t *testing.T) {
	n := newFake(t)
	expired := apiError(409, api.Error{Code: api.CodeSessionExpired, Message: "m"})
	n.answers = []func(http.ResponseWriter){expired}
	c := New([]string{n.addr()}, Options{})
	ctx := context.Background()
	if _, err := c.Put(ctx, "k", "v"); err != nil {
		t.Fatalf("first-attempt expiry: %v", err)
	}
	n.answers = []func(http.ResponseWriter){apiError(503, api.Error{Code: api.CodeStopped, Message: "m"}), expired}
	if _, err := c.Put(ctx, "k", "v"); err == nil || !strings.Contains(err.Error(), ErrUnknownOutcome.Error()) {
		t.Fatalf("expiry after a retry: %v", err)
	}
}
