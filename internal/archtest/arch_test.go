package archtest

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/tapagent/tapagent"

// pkg is what `go list -json` says of a package.
type pkg struct {
	ImportPath string
	Dir        string
	Imports    []string
	Deps       []string
	GoFiles    []string
}

// listed runs `go list -json ./...` at the module root.
func listed(t *testing.T) map[string]pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = root(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs[strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")] = p
	}
	return pkgs
}

func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// local are a package's imports (or deps) inside the module, relative.
func local(paths []string) []string {
	var out []string
	for _, p := range paths {
		if rel, ok := strings.CutPrefix(p, module+"/"); ok {
			out = append(out, rel)
		}
	}
	return out
}

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// agentSide are the packages of the agent: the simulator and the board
// drivers must not import them.
func agentSide(p string) bool {
	return p == "device" || under(p, "agent") || p == "doctor" || p == "firmware" || p == "simwall"
}

// TestFeaturesDoNotImportTheAssembly: a feature package under agent/ is a
// part the assembly (package agent) puts together; it never reaches back.
func TestFeaturesDoNotImportTheAssembly(t *testing.T) {
	for name, p := range listed(t) {
		if !strings.HasPrefix(name, "agent/") {
			continue
		}
		if slices.Contains(local(p.Deps), "agent") {
			t.Errorf("%s depends on the assembly (package agent)", name)
		}
	}
}

// TestCoreImportsNoFeature: the wall core (device) is what the feature
// packages under agent/ build on; it declares what it needs of them as
// interfaces in its own terms and never imports one.
func TestCoreImportsNoFeature(t *testing.T) {
	p := listed(t)["device"]
	for _, d := range local(p.Deps) {
		if under(d, "agent") {
			t.Errorf("device depends on %s", d)
		}
	}
}

// TestSimulatorAndBoardStayOutOfTheAgent: the simulated hardware and peers
// (sim/...) and the board drivers (board) import none of the agent's
// packages, and reach no more of them than the configuration does.
func TestSimulatorAndBoardStayOutOfTheAgent(t *testing.T) {
	pkgs := listed(t)
	viaConfig := local(pkgs["config"].Deps)
	for name, p := range pkgs {
		if !under(name, "sim") && name != "board" {
			continue
		}
		for _, imp := range local(p.Imports) {
			if agentSide(imp) {
				t.Errorf("%s imports %s", name, imp)
			}
		}
		for _, dep := range local(p.Deps) {
			if agentSide(dep) && !slices.Contains(viaConfig, dep) {
				t.Errorf("%s reaches %s", name, dep)
			}
		}
	}
}

// internalHelpers are the packages internal/ may hold: operating-system
// helpers and test helpers, nothing of the agent's own rules.
var internalHelpers = map[string]string{
	"internal/archtest": "test: this architecture test",
	"internal/clip":     "OS: bounded text for logs and replies",
	"internal/diskfull": "test: a file system that fills up",
	"internal/fsfault":  "test: file-system faults",
	"internal/mqtttest": "test: an MQTT broker on loopback",
	"internal/pty":      "OS: pseudo-terminals",
	"internal/sdnotify": "OS: systemd notification socket",
	"internal/sysinfo":  "OS: CPU, memory and disk figures",
	"internal/walltest": "test: a wall on the simulated board for tests",
	"internal/testwait": "test: waiting on a condition in real time",
}

// TestInternalHoldsOnlyHelpers: a package that lands in internal/ must be
// an OS or test helper listed above.
func TestInternalHoldsOnlyHelpers(t *testing.T) {
	for name := range listed(t) {
		if under(name, "internal") {
			if _, ok := internalHelpers[name]; !ok {
				t.Errorf("%s is in internal/ but is no OS or test helper (list it here only if it is one)", name)
			}
		}
	}
}

// TestNoTTGWireTypesInTheCore: the TTG wire format (ttg's JSON structures,
// its remote-login error codes and its time parsing) is converted at the
// ttg boundary (agent/clientcontrol, agent/serversync); the wall core
// (device) takes and returns its own types.
func TestNoTTGWireTypesInTheCore(t *testing.T) {
	pkgs := listed(t)
	wire := wireNames(t, pkgs["ttg"])
	for _, file := range pkgs["device"].GoFiles {
		for _, sel := range selectors(t, filepath.Join(pkgs["device"].Dir, file), "ttg") {
			if wire[sel] {
				t.Errorf("%s uses the TTG wire name ttg.%s: convert it in ttg, agent/clientcontrol or agent/serversync", file, sel)
			}
		}
	}
}

// wireNames are ttg's wire vocabulary: exported structs with JSON-tagged
// fields, the remote-login codes (RL...) and ParseTime.
func wireNames(t *testing.T, p pkg) map[string]bool {
	t.Helper()
	out := map[string]bool{"ParseTime": true}
	for _, file := range p.GoFiles {
		f := parse(t, filepath.Join(p.Dir, file))
		ast.Inspect(f, func(n ast.Node) bool {
			switch d := n.(type) {
			case *ast.TypeSpec:
				if st, ok := d.Type.(*ast.StructType); ok && d.Name.IsExported() && jsonTagged(st) {
					out[d.Name.Name] = true
				}
			case *ast.ValueSpec:
				for _, id := range d.Names {
					if strings.HasPrefix(id.Name, "RL") && id.IsExported() {
						out[id.Name] = true
					}
				}
			}
			return true
		})
	}
	return out
}

func jsonTagged(st *ast.StructType) bool {
	for _, f := range st.Fields.List {
		if f.Tag != nil {
			if _, ok := reflect.StructTag(strings.Trim(f.Tag.Value, "`")).Lookup("json"); ok {
				return true
			}
		}
	}
	return false
}

// selectors are the names a file uses from the package it imports as pkg.
func selectors(t *testing.T, path, pkg string) []string {
	t.Helper()
	var out []string
	ast.Inspect(parse(t, path), func(n ast.Node) bool {
		if se, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := se.X.(*ast.Ident); ok && id.Name == pkg {
				out = append(out, se.Sel.Name)
			}
		}
		return true
	})
	return out
}

func parse(t *testing.T, path string) *ast.File {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), path, src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestArchitecturePageListsEveryPackage: docs/architecture.md names every
// package `go list ./...` prints in its package table, and its Mermaid
// diagram names only packages that exist.
func TestArchitecturePageListsEveryPackage(t *testing.T) {
	pkgs := listed(t)
	raw, err := os.ReadFile(filepath.Join(root(t), "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(raw)
	for name := range pkgs {
		if name == "" {
			continue
		}
		if !strings.Contains(page, "| `"+name+"` |") {
			t.Errorf("docs/architecture.md has no row for package %s", name)
		}
	}
	_, diagram, ok := strings.Cut(page, "```mermaid\n")
	if !ok {
		t.Fatal("docs/architecture.md has no Mermaid diagram")
	}
	diagram, _, _ = strings.Cut(diagram, "```")
	drawn := map[string]bool{}
	for _, label := range mermaidLabels(diagram) {
		name, _, _ := strings.Cut(label, "<br/>")
		for _, n := range strings.Split(name, " · ") {
			n, _, _ = strings.Cut(strings.TrimSpace(n), "/… ")
			if _, ok := pkgs[n]; !ok && n != "protocols and drivers" && n != "internal" {
				t.Errorf("the diagram names %q, which is no package", n)
			}
			drawn[n] = true
		}
	}
	for name := range pkgs {
		if name != "" && !under(name, "internal") && !drawn[name] {
			t.Errorf("the diagram does not draw package %s", name)
		}
	}
}

// mermaidLabels are the quoted node and subgraph labels of a diagram.
func mermaidLabels(diagram string) []string {
	var out []string
	for rest := diagram; ; {
		_, after, ok := strings.Cut(rest, `["`)
		if !ok {
			return out
		}
		label, tail, _ := strings.Cut(after, `"]`)
		out = append(out, label)
		rest = tail
	}
}
