package deploy

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/shared/config"
)

// TestDocsListEveryEnvironmentVariable checks docs/deploy.md's table of environment variables against
// the code: package config reads every variable (TestOnlyConfigReadsTheEnvironment), and the table
// lists exactly the names config.Load asks for.
func TestDocsListEveryEnvironmentVariable(t *testing.T) {
	read := map[string]bool{}
	_, _ = config.Load(func(name string) string {
		read[name] = true
		return ""
	})
	if len(read) == 0 {
		t.Fatal("config.Load read no variable at all")
	}
	listed := docsEnvTable(t)
	for _, name := range sortedKeysOf(read) {
		if !listed[name] {
			t.Errorf("config.Load reads %s but docs/deploy.md's \"Environment variables\" table does not list it: add a row", name)
		}
	}
	for _, name := range sortedKeysOf(listed) {
		if !read[name] {
			t.Errorf("docs/deploy.md's \"Environment variables\" table lists %s, which config.Load does not read: remove the row", name)
		}
	}
}

// TestConfigReadsEveryVariableWhateverTheOthersSay: config.Load asks for the same names with every
// variable set as with none, so the names an empty environment shows (the table's check above) are
// all it ever reads.
func TestConfigReadsEveryVariableWhateverTheOthersSay(t *testing.T) {
	empty := map[string]bool{}
	_, _ = config.Load(func(name string) string { empty[name] = true; return "" })
	for _, value := range []string{"true", "1", "x"} {
		full := map[string]bool{}
		_, _ = config.Load(func(name string) string { full[name] = true; return value })
		if !maps.Equal(empty, full) {
			t.Errorf("with every variable %q, config.Load reads %v; with none, %v", value, sortedKeysOf(full), sortedKeysOf(empty))
		}
	}
}

// TestOnlyConfigReadsTheEnvironment: no package the functions, the worker or make dev are built from
// reads the environment but package config (os.Getenv, os.LookupEnv, os.Environ, syscall.Getenv), so
// a new setting cannot bypass config.Load's checks or the table above.
func TestOnlyConfigReadsTheEnvironment(t *testing.T) {
	const configPkg = "github.com/switchyard-ai/switchyard/shared/config"
	fset := token.NewFileSet()
	scanned := 0
	for _, f := range moduleFiles(t, fset) {
		if f.pkg == configPkg {
			continue
		}
		scanned++
		ast.Inspect(f.ast, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			x, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			switch p := importPath(f, x.Name); {
			case p == "os" && (sel.Sel.Name == "Getenv" || sel.Sel.Name == "LookupEnv" || sel.Sel.Name == "Environ"),
				p == "syscall" && (sel.Sel.Name == "Getenv" || sel.Sel.Name == "Environ"):
				rel, _ := filepath.Rel(root, fset.Position(sel.Pos()).Filename)
				if abs, err := filepath.Abs(root); err == nil {
					rel, _ = filepath.Rel(abs, fset.Position(sel.Pos()).Filename)
				}
				t.Errorf("%s:%d reads the environment (%s.%s): read it in package config (config.Load) and take it from config.Config",
					rel, fset.Position(sel.Pos()).Line, p, sel.Sel.Name)
			}
			return true
		})
	}
	if scanned == 0 {
		t.Fatal("scanned no file: the scan is broken")
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
	pkg string // import path
	ast *ast.File
}

// moduleFiles parses the module's non-test files in the packages the functions, the worker and
// infra/dev are built from.
func moduleFiles(t *testing.T, fset *token.FileSet) []goFile {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{.ImportPath}}{{"\t"}}{{.Dir}}{{"\t"}}{{join .GoFiles ","}}{{end}}{{end}}`,
		"./functions/...", "./worker", "./infra/dev")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var files []goFile
	for line := range strings.Lines(string(out)) {
		parts := strings.Split(strings.TrimSpace(line), "\t")
		if len(parts) != 3 || parts[2] == "" {
			continue
		}
		for _, name := range strings.Split(parts[2], ",") {
			f, err := parser.ParseFile(fset, filepath.Join(parts[1], name), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, goFile{pkg: parts[0], ast: f})
		}
	}
	return files
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

func sortedKeysOf[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
