package replica

import (
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"strings"
	"testing"
)

// Every metric name the Metrics comments promise is one Samples produces,
// and the other way round, so the documented names are the real ones.
func TestSampleNamesMatchTheDocumentation(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "metrics.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	word := regexp.MustCompile(`tickraft_replica_\w+|_\w+`)
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != "Metrics" {
			return true
		}
		for _, fld := range ts.Type.(*ast.StructType).Fields.List {
			if fld.Doc == nil {
				continue
			}
			prefix := ""
			for _, w := range word.FindAllString(fld.Doc.Text(), -1) {
				if strings.HasPrefix(w, "tickraft_replica_") {
					prefix = "tickraft_replica_"
					documented[w] = true
				} else if prefix != "" && strings.HasPrefix(w, "_") {
					documented[prefix+w[1:]] = true // "_applied_index" after a full name
				}
			}
		}
		return false
	})
	produced := map[string]bool{}
	m := Metrics{Peers: map[uint64]PeerMetrics{2: {}}}
	for _, s := range m.Samples() {
		produced[s.Name] = true
	}
	for n := range produced {
		if !documented[n] {
			t.Errorf("sample %s is not documented on Metrics", n)
		}
	}
	for n := range documented {
		if !produced[n] {
			t.Errorf("documented metric %s is not produced by Samples", n)
		}
	}
}

func TestMetricsOfALiveCluster(t *testing.T) {
	c := newCluster(t, 3, nil)
	ctx := ctxT(t)
	res := c.propose(ctx, "m")
	c.waitApplied(ctx, indexOf(res))
	l := c.leader()
	m := l.r.Metrics()
	if m.Role != "leader" || m.Leader != l.id || m.Term == 0 || m.Applied < indexOf(res) || m.Commit < m.Applied {
		t.Fatalf("leader metrics: %+v", m)
	}
	if len(m.Voters) != 3 || len(m.Peers) != 3 || m.Syncs == 0 || m.ProposalsApplied == 0 || m.ApplyBatches == 0 {
		t.Fatalf("leader metrics: %+v", m)
	}
	for id, p := range m.Peers {
		if p.Addr != addr(id) {
			t.Errorf("peer %d at %q", id, p.Addr)
		}
	}
	if len(m.Transport.Peers) != 2 {
		t.Errorf("transport stats for %d peers, want 2", len(m.Transport.Peers))
	}
	var role float64
	for _, s := range m.Samples() {
		if s.Name == "tickraft_replica_role" && s.Labels["role"] == "leader" {
			role = s.Value
		}
	}
	if role != 1 {
		t.Error("the role sample does not say leader")
	}
}
