package archtest

// The documentation check: every link in every Markdown file of the
// repository stays inside the repository and points at a file and
// heading that exist.

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// link is an inline Markdown link or image: [text](target "title").
var link = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// TestDocLinks: a person with a fresh clone can follow every link: none
// leaves the repository (a URL, or a path climbing out of it such as the
// ../shared notes a clone does not have; public sources are cited by
// name instead), and every file and #anchor linked to exists.
func TestDocLinks(t *testing.T) {
	root := root(t)
	docs := markdownFiles(t, root)
	if len(docs) < 10 {
		t.Fatalf("found only %d Markdown files under %s", len(docs), root)
	}
	for _, doc := range docs {
		rel, _ := filepath.Rel(root, doc)
		for _, l := range links(t, doc) {
			if msg := checkLink(root, doc, l.target); msg != "" {
				t.Errorf("%s:%d: %s: %s", rel, l.line, l.target, msg)
			}
		}
		b, _ := os.ReadFile(doc)
		if strings.Contains(string(b), "../shared") || strings.Contains(string(b), "shared notes") {
			t.Errorf("%s: refers to the shared notes, which a clone of the repository does not have: state the facts and cite the public source by name", rel)
		}
		// Docs name each other as text too ("see docs/mdb.md").
		for _, m := range docMention.FindAllString(string(b), -1) {
			if _, err := os.Stat(filepath.Join(root, m)); err != nil {
				t.Errorf("%s: names %s, which does not exist", rel, m)
			}
		}
	}
}

// TestCheckLink: the checker itself tells good links from bad.
func TestCheckLink(t *testing.T) {
	root := root(t)
	doc := filepath.Join(root, "README.md")
	for target, bad := range map[string]bool{
		"docs/install.md":                 false,
		"docs/install.md#tapagent-doctor": false,
		"#commands":                       false,
		"docs/nosuch.md":                  true,
		"docs/install.md#no-such-heading": true,
		"https://example.com/":            true,
		"../shared/specs/x.md":            true,
		"mailto:someone@example.com":      true,
		"examples/tapagent.toml":          false,
		"docs/../README.md#two-commands":  false,
		"/etc/tapagent/tapagent.toml":     true,
	} {
		if got := checkLink(root, doc, target) != ""; got != bad {
			t.Errorf("checkLink(%q) bad = %v, want %v", target, got, bad)
		}
	}
}

type mdLink struct {
	target string
	line   int
}

// markdownFiles lists the repository's Markdown files, build output and
// hidden directories left out.
func markdownFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "dist" || d.Name() == "data") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// links returns the links of a Markdown file outside code blocks and
// code spans.
func links(t *testing.T, path string) []mdLink {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []mdLink
	sc := bufio.NewScanner(f)
	fenced := false
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		for _, m := range link.FindAllStringSubmatch(withoutCodeSpans(line), -1) {
			out = append(out, mdLink{target: m[1], line: n})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// docMention is a document of docs/ named in running text.
var docMention = regexp.MustCompile(`\bdocs/[A-Za-z0-9_-]+\.md\b`)

var codeSpan = regexp.MustCompile("`[^`]*`")

func withoutCodeSpans(s string) string { return codeSpan.ReplaceAllString(s, "") }

// checkLink says what is wrong with a link from doc, or "".
func checkLink(root, doc, target string) string {
	if regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`).MatchString(target) {
		return "leaves the repository: cite the source by name instead of linking it"
	}
	if strings.HasPrefix(target, "/") {
		return "an absolute path is not a file of the repository"
	}
	file, anchor, _ := strings.Cut(target, "#")
	dest := doc
	if file != "" {
		dest = filepath.Join(filepath.Dir(doc), filepath.FromSlash(file))
		if r, err := filepath.Rel(root, dest); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			return "leaves the repository"
		}
		if _, err := os.Stat(dest); err != nil {
			return "no such file"
		}
	}
	if anchor == "" {
		return ""
	}
	if !strings.HasSuffix(dest, ".md") {
		return "an anchor into a file that is not Markdown"
	}
	for _, a := range anchors(dest) {
		if a == anchor {
			return ""
		}
	}
	return "no heading with this anchor in " + filepath.Base(dest)
}

// anchors are the heading anchors of a Markdown file as GitHub makes them:
// lower case, spaces to hyphens, other punctuation dropped, repeats
// numbered.
func anchors(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	seen := map[string]int{}
	var out []string
	fenced := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var a strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ' || r == '-':
				a.WriteRune('-')
			case r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r > 127:
				a.WriteRune(r)
			}
		}
		s := a.String()
		if n := seen[s]; n > 0 {
			out = append(out, s+"-"+strconv.Itoa(n))
		} else {
			out = append(out, s)
		}
		seen[s]++
	}
	return out
}
