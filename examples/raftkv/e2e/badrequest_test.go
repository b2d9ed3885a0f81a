package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tickraft/raft/examples/raftkv/api"
)

// TestBadRequests: malformed, oversized and unknown requests get a 4xx
// JSON error with a stable code, and change nothing (no entry is added to
// the log, the key is untouched).
func TestBadRequests(t *testing.T) {
	c := started(t, "pebble", 1, "-max-value-size", "1024")
	x := ctx(t)
	base := "http://" + c.Node(1).APIAddr
	cl := c.Client()
	defer cl.Close()
	if _, err := cl.Put(x, "k", "original"); err != nil {
		t.Fatal(err)
	}
	before, err := cl.Status(x, "")
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 2000)
	huge := strings.Repeat("y", 3<<20)
	cases := []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"PUT", "/v1/kv/k", `{"value":`, 400, api.CodeBadRequest},
		{"PUT", "/v1/kv/k", `{"value":"a","nonsense":1}`, 400, api.CodeBadRequest},
		{"PUT", "/v1/kv/k", `{"value":"a"} {"value":"b"}`, 400, api.CodeBadRequest},
		{"PUT", "/v1/kv/k", `{}`, 400, api.CodeBadRequest},
		{"PUT", "/v1/kv/k", `{"value":"` + big + `"}`, 413, api.CodeValueTooLarge},
		{"PUT", "/v1/kv/k", `{"value":"` + huge + `"}`, 413, api.CodeBodyTooLarge},
		{"PUT", "/v1/kv/k", `{"value":"a","version":1,"if_absent":true}`, 400, api.CodeBadRequest},
		{"PUT", "/v1/kv/k", `{"value":"a","client_id":5}`, 400, api.CodeBadRequest},
		{"POST", "/v1/kv", `{"op":"increment","key":"k","value":"1"}`, 400, api.CodeUnknownOp},
		{"POST", "/v1/kv", `{"op":"cas","key":"k","value":"1"}`, 400, api.CodeBadRequest},
		{"POST", "/v1/kv", `{"op":"put","key":"","value":"1"}`, 400, api.CodeBadRequest},
		{"POST", "/v1/kv", `{"op":"delete","key":"k","value":"1"}`, 400, api.CodeBadRequest},
		{"POST", "/v1/kv", `{"op":"put","key":"` + strings.Repeat("k", 5000) + `","value":"1"}`, 413, api.CodeKeyTooLarge},
		{"PUT", "/v1/kv/k", `{"value":"a","version":1}`, 409, api.CodeVersionMismatch},
		{"PUT", "/v1/kv/k", `{"value":"a","if_absent":true}`, 409, api.CodeExists},
		{"PUT", "/v1/kv/k", `{"value":"a","client_id":999999,"seq":1}`, 409, api.CodeSessionExpired},
		{"GET", "/v1/kv/k?consistency=eventual", ``, 400, api.CodeBadRequest},
		{"GET", "/v1/kv/missing", ``, 404, api.CodeNotFound},
		{"GET", "/v1/scan?limit=0", ``, 400, api.CodeBadRequest},
		{"GET", "/v1/scan?prefix=a&start=b", ``, 400, api.CodeBadRequest},
		{"POST", "/v1/frobnicate", `{}`, 404, api.CodeUnknownOp},
		{"POST", "/v1/admin/add-learner", `{"id":0}`, 400, api.CodeBadRequest},
		{"POST", "/v1/admin/change-membership", `{"voters":[1,42]}`, 400, api.CodeBadRequest},
		{"POST", "/v1/admin/init", `{}`, 409, api.CodeAlreadyInit},
		{"POST", "/v1/internal/propose", "\x63garbage", 400, api.CodeBadRequest},
		{"POST", "/v1/test/faults", `{}`, 404, api.CodeUnknownOp}, // test hooks are off
	}
	for _, tc := range cases {
		var e api.Error
		status := post(t, tc.method, base+tc.path, tc.body, &e)
		if status != tc.status || e.Code != tc.code || e.Message == "" {
			t.Errorf("%s %s %.60s: %d %+v, want %d %s", tc.method, tc.path, tc.body, status, e, tc.status, tc.code)
		}
	}
	// Only the writes refused by the state machine (version_mismatch,
	// exists, session_expired) went through the log; nothing changed k.
	r, err := cl.Get(x, "k", "")
	if err != nil || r.Value != "original" || r.Version != before.Applied {
		t.Fatalf("k after bad requests: %+v %v (written at %d)", r, err, before.Applied)
	}
	after, err := cl.Status(x, "")
	if err != nil {
		t.Fatal(err)
	}
	if grew := after.LastIndex - before.LastIndex; grew != 3 {
		t.Fatalf("the log grew by %d entries, want 3 (the three conditional writes refused by the state machine)", grew)
	}
}

// TestMetricsAndPage: /metrics has the raft, wal, transport, state machine
// and HTTP metrics; / is a page naming the members and the leader.
func TestMetricsAndPage(t *testing.T) {
	c := started(t, "pebble", 2)
	x := ctx(t)
	cl := c.Client()
	defer cl.Close()
	if _, err := cl.Put(x, "k", "v"); err != nil {
		t.Fatal(err)
	}
	leader, err := c.Leader(x)
	if err != nil {
		t.Fatal(err)
	}
	body := func(path string) string {
		resp, err := http.Get("http://" + leader.APIAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return string(b)
	}
	other := 3 - leader.ID
	m := body("/metrics")
	for _, want := range []string{
		"etcd_server_has_leader 1", "etcd_server_is_leader 1", "etcd_disk_wal_fsync_duration_seconds_count",
		"tickraft_replica_applied_index", fmt.Sprintf(`tickraft_replica_peer_lag{peer="%d"}`, other), fmt.Sprintf(`etcd_network_peer_sent_bytes_total{To="%d"}`, other),
		"tickraft_transport_peer_rtt_seconds", "raftkv_sm_sessions", "raftkv_sm_disk_bytes",
		`raftkv_http_requests_total{code="200",route="POST /v1/kv"}`, "go_goroutines", "process_cpu_seconds_total",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	page := body("/")
	for _, want := range []string{fmt.Sprintf("raftkv node %d", leader.ID), "Role: <b>leader</b>", c.Node(other).APIAddr, "Recent leader changes"} {
		if !strings.Contains(page, want) {
			t.Errorf("the status page lacks %q", want)
		}
	}
}
