package deploy

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestDocsListEveryEnvironmentVariable checks docs/deploy.md's table of environment variables against
// the code: every variable that the code of the Lambda functions, the worker or `make dev` reads is
// listed, and nothing is listed that no code reads. A read is a call to os.Getenv or os.LookupEnv,
// to a getenv func value, or to a helper that passes its parameter to one of those, with a constant
// name (a literal, or a constant such as awsconf.EnvDatabaseURL).
func TestDocsListEveryEnvironmentVariable(t *testing.T) {
	read := envReads(t)
	listed := docsEnvTable(t)
	for _, name := range sortedKeysOf(read) {
		if !listed[name] {
			t.Errorf("%s is read (%s) but docs/deploy.md's \"Environment variables\" table does not list it: add a row", name, strings.Join(read[name], ", "))
		}
	}
	for _, name := range sortedKeysOf(listed) {
		if _, ok := read[name]; !ok {
			t.Errorf("docs/deploy.md's \"Environment variables\" table lists %s, which no code of the functions, the worker or make dev reads: remove the row", name)
		}
	}
}

// docsEnvTable returns the names in the first column of the table under "## Environment variables".
func docsEnvTable(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| `([A-Za-z0-9_]+)` \\|")
	names := map[string]bool{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = strings.TrimSpace(line) == "## Environment variables"
			continue
		}
		if m := row.FindStringSubmatch(line); in && m != nil {
			names[m[1]] = true
		}
	}
	if len(names) == 0 {
		t.Fatal(`docs/deploy.md has no "## Environment variables" table`)
	}
	return names
}

type goFile struct {
	pkg  string // import path
	path string
	ast  *ast.File
}

// envReads returns each environment variable name the module's non-test code reads, in the packages
// the functions, the worker and infra/dev are built from, with where.
func envReads(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{.ImportPath}}{{"\t"}}{{.Dir}}{{"\t"}}{{join .GoFiles ","}}{{end}}{{end}}`,
		"./functions/...", "./worker", "./infra/dev")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	fset := token.NewFileSet()
	var files []goFile
	consts := map[string]map[string]string{} // import path → constant → value
	for line := range strings.Lines(string(out)) {
		parts := strings.Split(strings.TrimSpace(line), "\t")
		if len(parts) != 3 || parts[2] == "" {
			continue
		}
		pkg, dir := parts[0], parts[1]
		consts[pkg] = map[string]string{}
		for _, name := range strings.Split(parts[2], ",") {
			path := filepath.Join(dir, name)
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, goFile{pkg: pkg, path: path, ast: f})
			for _, d := range f.Decls {
				if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
					for _, s := range g.Specs {
						vs := s.(*ast.ValueSpec)
						for i, n := range vs.Names {
							if i < len(vs.Values) {
								if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
									consts[pkg][n.Name], _ = strconv.Unquote(lit.Value)
								}
							}
						}
					}
				}
			}
		}
	}

	// readers: "pkg.Func" → which argument is the variable's name. os.Getenv, os.LookupEnv and getenv
	// func values read their first; a function passing a parameter to a reader reads that parameter.
	readers := map[string]int{"os.Getenv": 0, "os.LookupEnv": 0, "getenv": 0}
	for changed := true; changed; {
		changed = false
		for _, f := range files {
			for _, d := range f.ast.Decls {
				fn, ok := d.(*ast.FuncDecl)
				if !ok || fn.Body == nil || fn.Recv != nil {
					continue
				}
				key := f.pkg + "." + fn.Name.Name
				if _, known := readers[key]; known {
					continue
				}
				params := paramNames(fn)
				ast.Inspect(fn.Body, func(n ast.Node) bool {
					call, ok := n.(*ast.CallExpr)
					if !ok {
						return true
					}
					if i, ok := readers[callee(f, call)]; ok && i < len(call.Args) {
						if id, ok := call.Args[i].(*ast.Ident); ok && slices.Contains(params, id.Name) {
							readers[key] = slices.Index(params, id.Name)
							changed = true
							return false
						}
					}
					return true
				})
			}
		}
	}

	reads := map[string][]string{}
	for _, f := range files {
		ast.Inspect(f.ast, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			i, ok := readers[callee(f, call)]
			if !ok || i >= len(call.Args) {
				return true
			}
			if name, ok := constString(f, consts, call.Args[i]); ok {
				pos := fset.Position(call.Pos())
				rel, _ := filepath.Rel(root, pos.Filename)
				if abs, err := filepath.Abs(root); err == nil {
					rel, _ = filepath.Rel(abs, pos.Filename)
				}
				reads[name] = append(reads[name], fmt.Sprintf("%s:%d", rel, pos.Line))
			}
			return true
		})
	}
	if len(reads) == 0 {
		t.Fatal("found no environment variable reads at all: the scan is broken")
	}
	return reads
}

// callee names what a call calls: "os.Getenv", "<import path>.Func", or a bare "getenv".
func callee(f goFile, call *ast.CallExpr) string {
	switch fn := call.Fun.(type) {
	case *ast.Ident:
		if fn.Name == "getenv" {
			return "getenv"
		}
		return f.pkg + "." + fn.Name
	case *ast.SelectorExpr:
		if x, ok := fn.X.(*ast.Ident); ok {
			if p := importPath(f, x.Name); p != "" {
				if p == "os" {
					return "os." + fn.Sel.Name
				}
				return p + "." + fn.Sel.Name
			}
		}
		if fn.Sel.Name == "getenv" {
			return "getenv"
		}
	}
	return ""
}

// constString is e's value when it is a string literal or a string constant of the scanned packages.
func constString(f goFile, consts map[string]map[string]string, e ast.Expr) (string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind == token.STRING {
			s, err := strconv.Unquote(e.Value)
			return s, err == nil
		}
	case *ast.Ident:
		v, ok := consts[f.pkg][e.Name]
		return v, ok
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok {
			v, ok := consts[importPath(f, x.Name)][e.Sel.Name]
			return v, ok
		}
	}
	return "", false
}

// importPath is the path the file imports under name, or "".
func importPath(f goFile, name string) string {
	for _, im := range f.ast.Imports {
		p, _ := strconv.Unquote(im.Path.Value)
		local := p[strings.LastIndex(p, "/")+1:]
		if im.Name != nil {
			local = im.Name.Name
		}
		if local == name {
			return p
		}
	}
	return ""
}

func paramNames(fn *ast.FuncDecl) []string {
	var names []string
	for _, field := range fn.Type.Params.List {
		if len(field.Names) == 0 {
			names = append(names, "_")
		}
		for _, n := range field.Names {
			names = append(names, n.Name)
		}
	}
	return names
}

func sortedKeysOf[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
