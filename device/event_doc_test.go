package device

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// eventConstants reads the event type constants from event.go: every
// constant named Event… with a string value, each with its doc comment.
func eventConstants(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "event.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !strings.HasPrefix(n.Name, "Event") || !ok || lit.Kind != token.STRING {
					continue
				}
				v, _ := strconv.Unquote(lit.Value)
				if vs.Doc == nil {
					t.Errorf("%s has no comment saying its fields and meaning", n.Name)
				}
				out[v] = n.Name
			}
		}
	}
	return out
}

// documentedTypes reads the event types of the tables in docs/events.md.
func documentedTypes(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9_]+)` \\|[^|]*\\|[^|]*\\|$").FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	return out
}

// TestEventTypesDocumented: every event type constant has its row in the
// docs' event table, and every row names a constant.
func TestEventTypesDocumented(t *testing.T) {
	consts := eventConstants(t)
	if len(consts) == 0 {
		t.Fatal("no event type constants found in event.go")
	}
	docs := documentedTypes(t)
	for v, name := range consts {
		if !slices.Contains(docs, v) {
			t.Errorf("%s (%q) is missing from the table in docs/events.md", name, v)
		}
	}
	seen := map[string]bool{}
	for _, v := range docs {
		if seen[v] {
			t.Errorf("%q is in docs/events.md twice", v)
		}
		seen[v] = true
		if _, ok := consts[v]; !ok {
			t.Errorf("docs/events.md lists %q, which is no constant in device/event.go", v)
		}
	}
}
