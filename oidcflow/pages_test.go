package oidcflow

import (
	"html"
	"regexp"
	"strings"
	"testing"
)

// hostile breaks out of an attribute, opens a script and starts an entity.
const hostile = `/x"' onload=alert(1) ><script>alert(2)</script>&amp;`

var attrRE = regexp.MustCompile(`(?s)\s([a-z-]+)="([^"]*)"`)

// attrs returns a page's double-quoted attributes, unescaped, by name.
func attrs(page string) map[string][]string {
	m := map[string][]string{}
	for _, a := range attrRE.FindAllStringSubmatch(page, -1) {
		m[a[1]] = append(m[a[1]], html.UnescapeString(a[2]))
	}
	return m
}

// The pages are written out by hand, so each value must come back from its
// own attribute intact, and nothing it carries may become markup.
func TestPagesEscapeEveryValue(t *testing.T) {
	page := completePage(hostile+"s", hostile+"e", hostile+"r", hostile+"l")
	a := attrs(page)
	for name, want := range map[string]string{"src": hostile + "s", "data-exchange": hostile + "e", "data-rd": hostile + "r", "data-login": hostile + "l"} {
		if len(a[name]) != 1 || a[name][0] != want {
			t.Errorf("complete page %s = %q, want [%q]", name, a[name], want)
		}
	}
	if n := strings.Count(page, "<script"); n != 1 {
		t.Errorf("complete page has %d <script elements, want 1:\n%s", n, page)
	}

	page = loopPage(7, hostile)
	a = attrs(page)
	if len(a["href"]) != 1 || a["href"][0] != hostile {
		t.Errorf("loop page href = %q, want [%q]", a["href"], hostile)
	}
	if strings.Contains(page, "<script") || !strings.Contains(page, "sign in 7 times") {
		t.Errorf("loop page:\n%s", page)
	}
}
