// Package determinism checks that the core packages of tickraft stay
// deterministic: they must not read the clock, the environment or the
// network, use global randomness, or start goroutines. The check reads Go
// source files with go/parser; the test in this package runs it over the
// core packages so a violation fails `make test`.
package determinism

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Violation is one place in a source file that breaks determinism.
type Violation struct {
	Pos    token.Position
	Reason string
}

// String renders the violation as "file:line:col: reason".
func (v Violation) String() string { return fmt.Sprintf("%s: %s", v.Pos, v.Reason) }

// forbiddenImports are packages whose mere use makes the core depend on the
// world outside its inputs. A path matches itself and every path below it.
var forbiddenImports = []string{"time", "os", "net", "crypto/rand", "syscall"}

// randPackages may be imported, but only to build a seeded generator: their
// package-level functions other than the constructors draw from a global
// source.
var randPackages = map[string]bool{"math/rand": true, "math/rand/v2": true}

// allowedRand are the names of the rand packages that do not touch global
// state: types and constructors of seeded sources.
var allowedRand = map[string]bool{
	"New": true, "NewSource": true, "NewPCG": true, "NewChaCha8": true, "NewZipf": true,
	"Rand": true, "Source": true, "Source64": true, "PCG": true, "ChaCha8": true, "Zipf": true,
}

// CheckDir checks every non-test Go file directly in dir.
func CheckDir(dir string) ([]Violation, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Violation
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		vs, err := CheckSource(filepath.Join(dir, name), src)
		if err != nil {
			return nil, err
		}
		out = append(out, vs...)
	}
	return out, nil
}

// CheckSource checks one Go source file given as text.
func CheckSource(filename string, src []byte) ([]Violation, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filename, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var out []Violation
	add := func(pos token.Pos, format string, args ...any) {
		out = append(out, Violation{Pos: fset.Position(pos), Reason: fmt.Sprintf(format, args...)})
	}
	randNames := map[string]string{} // local name -> import path
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		for _, bad := range forbiddenImports {
			if path == bad || strings.HasPrefix(path, bad+"/") {
				add(imp.Pos(), "imports %q", path)
			}
		}
		if randPackages[path] {
			name := "rand"
			if imp.Name != nil {
				name = imp.Name.Name
			}
			randNames[name] = path
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			add(n.Pos(), "starts a goroutine")
		case *ast.SelectorExpr:
			if id, ok := n.X.(*ast.Ident); ok {
				if path, ok := randNames[id.Name]; ok && !allowedRand[n.Sel.Name] {
					add(n.Pos(), "uses the global source of %s (%s.%s)", path, id.Name, n.Sel.Name)
				}
			}
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Pos.Offset < out[j].Pos.Offset })
	return out, nil
}
