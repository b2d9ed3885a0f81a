package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickraft/raft/examples/raftkv/api"
	"github.com/tickraft/raft/examples/raftkv/client"
)

// TestRestartEveryNode: with each state machine, concurrent clients write
// while every node is killed (SIGKILL: a crash, writes in flight) and
// restarted from its data dir, then while every node is stopped with
// SIGTERM and restarted; every acknowledged write is there, on every node,
// each time.
func TestRestartEveryNode(t *testing.T) {
	for _, sm := range []string{"memory", "pebble"} {
		t.Run(sm, func(t *testing.T) {
			c := started(t, sm, 3)
			x := ctx(t)
			acked := map[string]string{}
			var mu sync.Mutex
			// load writes until stop is closed; it returns once the
			// writers ended.
			load := func(round int, stop chan struct{}) (wait func()) {
				var wg sync.WaitGroup
				for w := range 8 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						cl := c.Client()
						defer cl.Close()
						for i := 0; ; i++ {
							select {
							case <-stop:
								return
							default:
							}
							k, v := fmt.Sprintf("r%d/w%d/%d", round, w, i), fmt.Sprintf("value-%d-%d-%d", round, w, i)
							pctx, cancel := context.WithTimeout(x, 3*time.Second)
							_, err := cl.Put(pctx, k, v)
							cancel()
							if err == nil {
								mu.Lock()
								acked[k] = v
								mu.Unlock()
							}
						}
					}()
				}
				return wg.Wait
			}
			waitAcked := func(n int) {
				for {
					mu.Lock()
					got := len(acked)
					mu.Unlock()
					if got >= n {
						return
					}
					if x.Err() != nil {
						t.Fatalf("only %d of %d writes acknowledged", got, n)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			check := func(phase string) {
				if _, err := c.Leader(x); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				defer mu.Unlock()
				for _, n := range c.Nodes() {
					nc := client.New([]string{n.APIAddr}, client.Options{})
					for k, v := range acked {
						r, err := nc.Get(x, k, "linearizable")
						if err != nil || r.Value != v {
							t.Fatalf("%s: node %d lost acknowledged %s=%s: got %q, %v", phase, n.ID, k, v, r.Value, err)
						}
					}
					nc.Close()
				}
				t.Logf("%s: %d acknowledged writes present on every node", phase, len(acked))
			}
			restart := func() {
				for _, n := range c.Nodes() {
					if err := n.Start(x); err != nil {
						t.Fatal(err)
					}
				}
			}

			stop := make(chan struct{})
			wait := load(1, stop)
			waitAcked(150)
			for _, n := range c.Nodes() {
				if err := n.Kill(); err != nil {
					t.Fatal(err)
				}
			}
			close(stop)
			wait()
			restart()
			check("after SIGKILL of every node during writes")

			stop = make(chan struct{})
			wait = load(2, stop)
			waitAcked(300)
			if err := c.StopAll(15 * time.Second); err != nil {
				t.Fatalf("SIGTERM: %v", err)
			}
			close(stop)
			wait()
			restart()
			check("after SIGTERM of every node during writes")
		})
	}
}

// post sends a JSON body and decodes the JSON answer.
func post(t *testing.T, method, url string, body any, out any) int {
	t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, url, rd)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: decoding the answer: %v", method, url, err)
		}
	}
	return resp.StatusCode
}

// TestExactlyOnce sends the same session write again, to the same leader
// and to a new leader after a transfer: it is applied once, and every
// retry gets the first answer.
func TestExactlyOnce(t *testing.T) {
	c := started(t, "pebble", 3)
	x := ctx(t)
	leader, err := c.Leader(x)
	if err != nil {
		t.Fatal(err)
	}
	var reg api.RegisterResponse
	if code := post(t, "POST", "http://"+leader.APIAddr+"/v1/sessions", nil, &reg); code != 200 || reg.ClientID == 0 {
		t.Fatalf("register: %d %+v", code, reg)
	}
	zero := uint64(0)
	v := "first"
	// put-if-absent: applied twice, the second would fail with exists.
	w := api.WriteRequest{Op: "put-if-absent", Key: "once", Value: &v, ClientID: reg.ClientID, Seq: 1, AckBelow: 1}
	var first api.WriteResponse
	if code := post(t, "POST", "http://"+leader.APIAddr+"/v1/kv", w, &first); code != 200 {
		t.Fatalf("first write: %d", code)
	}
	var again api.WriteResponse
	if code := post(t, "POST", "http://"+leader.APIAddr+"/v1/kv", w, &again); code != 200 || again != first {
		t.Fatalf("retry on the same leader: %d %+v, first %+v", code, again, first)
	}
	// A CAS from version 0, retried on a new leader after a transfer.
	cas := api.WriteRequest{Op: "cas", Key: "counter", Value: &v, Version: &zero, ClientID: reg.ClientID, Seq: 2, AckBelow: 1}
	var casFirst api.WriteResponse
	if code := post(t, "POST", "http://"+leader.APIAddr+"/v1/kv", cas, &casFirst); code != 200 {
		t.Fatalf("cas: %d", code)
	}
	target := c.Node(leader.ID%3 + 1)
	cl := c.Client()
	defer cl.Close()
	if _, err := cl.TransferLeader(x, target.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Leader(x, leader.ID); err != nil {
		t.Fatal(err)
	}
	var casAgain api.WriteResponse
	if code := post(t, "POST", "http://"+target.APIAddr+"/v1/kv", cas, &casAgain); code != 200 || casAgain != casFirst {
		t.Fatalf("cas retried on the new leader: %d %+v, first %+v", code, casAgain, casFirst)
	}
	r, err := cl.Get(x, "counter", "")
	if err != nil || r.Version != casFirst.Version {
		t.Fatalf("counter version %d (%v), want the first write's %d", r.Version, err, casFirst.Version)
	}
	// Once the client acknowledged them, old seqs are refused, not applied.
	w.AckBelow = 3
	w.Seq = 3
	w.Key = "other"
	if code := post(t, "POST", "http://"+target.APIAddr+"/v1/kv", w, nil); code != 200 {
		t.Fatalf("seq 3: %d", code)
	}
	var e api.Error
	stale := cas
	if code := post(t, "POST", "http://"+target.APIAddr+"/v1/kv", stale, &e); code != 409 || e.Code != api.CodeSessionStale {
		t.Fatalf("acknowledged seq retried: %d %+v", code, e)
	}

	// The client's own retries: many concurrent writers, a leader killed in
	// the middle; every put-if-absent of a fresh key is answered OK (a
	// retry applied twice would answer exists).
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := c.Client()
			defer cl.Close()
			for i := range 50 {
				if _, err := cl.PutIfAbsent(x, fmt.Sprintf("pia/%d/%d", w, i), "x"); err != nil {
					errs <- fmt.Errorf("writer %d put %d: %w", w, i, err)
					return
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	killLeaderUnderLoad(t, x, c, &wg, errs)
}

// TestNotLeader: a follower answers writes with not_leader naming the
// leader's API address; with -forward it forwards them; the client follows
// the redirect from a follower-only endpoint list.
func TestNotLeader(t *testing.T) {
	c := newCluster(t, "memory", 3)
	c.Node(3).Args = []string{"-forward"}
	if err := c.Bootstrap(ctx(t)); err != nil {
		t.Fatal(err)
	}
	x := ctx(t)
	leader, err := c.Leader(x)
	if err != nil {
		t.Fatal(err)
	}
	if leader.ID != 1 {
		cl := c.Client()
		if _, err := cl.TransferLeader(x, 1); err != nil {
			t.Fatal(err)
		}
		cl.Close()
		if leader, err = c.Leader(x, 2, 3); err != nil {
			t.Fatal(err)
		}
	}
	v := "x"
	var e api.Error
	code := post(t, "PUT", "http://"+c.Node(2).APIAddr+"/v1/kv/a", api.WriteRequest{Value: &v}, &e)
	if code != http.StatusMisdirectedRequest || e.Code != api.CodeNotLeader || e.LeaderID != 1 || e.LeaderAPI != leader.APIAddr {
		t.Fatalf("write to a follower: %d %+v (leader %s)", code, e, leader.APIAddr)
	}
	var wr api.WriteResponse
	if code := post(t, "PUT", "http://"+c.Node(3).APIAddr+"/v1/kv/b", api.WriteRequest{Value: &v}, &wr); code != 200 || wr.Version == 0 {
		t.Fatalf("write to a forwarding follower: %d %+v", code, wr)
	}
	fc := client.New([]string{c.Node(2).APIAddr}, client.Options{})
	defer fc.Close()
	if _, err := fc.Put(x, "c", "via redirect"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"b", "c"} {
		if _, err := fc.Get(x, k, ""); err != nil {
			t.Fatalf("get %s: %v", k, err)
		}
	}
	if _, err := fc.Get(x, "a", ""); !client.IsNotFound(err) {
		t.Fatalf("the refused write to a follower was applied: %v", err)
	}
}

// TestWrongClusterRefused: a data dir from another cluster (or node)
// refuses to start.
func TestWrongClusterRefused(t *testing.T) {
	c := started(t, "pebble", 1)
	n := c.Node(1)
	if err := n.Stop(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-cluster-id", "2", "-id", "1"}, {"-cluster-id", "1", "-id", "7"}} {
		cmd := exec.CommandContext(ctx(t), bins["raftkv"], append(args, "-data-dir", n.DataDir, "-raft-addr", n.RaftAddr, "-api-addr", n.APIAddr)...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "data dir belongs to another cluster or node") {
			t.Errorf("%v on a data dir of cluster 1 node 1: %v\n%s", args, err, out)
		}
	}
	// The right identity still starts.
	if err := n.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
}
