package determinism

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// corePackages are the directories, relative to the module root, whose code
// must stay deterministic.
var corePackages = []string{".", "raftpb", "quorum", "progress", "confchange", "internal/bugs"}

func TestCorePackagesAreDeterministic(t *testing.T) {
	for _, dir := range corePackages {
		vs, err := CheckDir(filepath.Join("..", "..", dir))
		require.NoError(t, err, "package %s", dir)
		for _, v := range vs {
			t.Errorf("non-deterministic code in the core: %s", v)
		}
	}
}

func TestCheckSourceCatchesViolations(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		reasons   []string
	}{
		{"clock", "package raft\nimport \"time\"\nfunc f() { _ = time.Now() }\n", []string{`imports "time"`}},
		{"env", "package raft\nimport \"os\"\nvar _ = os.Getenv\n", []string{`imports "os"`}},
		{"subpackage of os", "package raft\nimport \"os/exec\"\nvar _ = exec.Command\n", []string{`imports "os/exec"`}},
		{"network", "package raft\nimport \"net/http\"\nvar _ = http.Get\n", []string{`imports "net/http"`}},
		{"crypto rand", "package raft\nimport \"crypto/rand\"\nvar _ = rand.Read\n", []string{`imports "crypto/rand"`}},
		{"global rand", "package raft\nimport \"math/rand\"\nfunc f() int { return rand.Intn(3) }\n",
			[]string{`uses the global source of math/rand (rand.Intn)`}},
		{"global rand v2 renamed", "package raft\nimport r \"math/rand/v2\"\nfunc f() int { return r.IntN(3) }\n",
			[]string{`uses the global source of math/rand/v2 (r.IntN)`}},
		{"goroutine", "package raft\nfunc f() { go func() {}() }\n", []string{"starts a goroutine"}},
		{"seeded rand is fine", "package raft\nimport \"math/rand/v2\"\nfunc f(s uint64) *rand.Rand { return rand.New(rand.NewPCG(s, s)) }\n", nil},
		{"time as a field name is fine", "package raft\ntype t struct{ time int }\nfunc (x t) f() int { return x.time }\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs, err := CheckSource("synthetic.go", []byte(tc.src))
			require.NoError(t, err)
			var got []string
			for _, v := range vs {
				got = append(got, v.Reason)
			}
			require.Equal(t, tc.reasons, got)
		})
	}
}

func TestCheckDirSkipsTestFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a_test.go"), "package raft\nimport \"time\"\nvar _ = time.Now\n")
	writeFile(t, filepath.Join(dir, "a.go"), "package raft\nimport \"time\"\nvar _ = time.Now\n")
	vs, err := CheckDir(dir)
	require.NoError(t, err)
	require.Len(t, vs, 1)
	require.Equal(t, "a.go", filepath.Base(vs[0].Pos.Filename))
}
