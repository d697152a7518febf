package deploy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Cmd  string // upper case: FROM, RUN, USER …
	Args string
	Line int
}

// stage is one FROM … section.
type stage struct {
	From, Name   string
	Instructions []instruction
}

// parseDockerfile is a line parser for the subset of the Dockerfile syntax
// the file uses: comments, parser directives, backslash continuations.
func parseDockerfile(t *testing.T, path string) (global []instruction, stages []*stage) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var cur strings.Builder
	start, n := 0, 0
	flush := func() {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args), Line: start}
		if in.Cmd == "FROM" {
			fields := strings.Fields(in.Args)
			fields = slices.DeleteFunc(fields, func(s string) bool { return strings.HasPrefix(s, "--") })
			st := &stage{From: fields[0]}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				st.Name = fields[2]
			}
			stages = append(stages, st)
			return
		}
		if len(stages) == 0 {
			global = append(global, in)
			return
		}
		s := stages[len(stages)-1]
		s.Instructions = append(s.Instructions, in)
	}
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	flush()
	return global, stages
}

func (s *stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.Instructions {
		if in.Cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

func (s *stage) last(t *testing.T, cmd string) instruction {
	t.Helper()
	all := s.all(cmd)
	if len(all) == 0 {
		t.Fatalf("final stage has no %s", cmd)
	}
	return all[len(all)-1]
}

// execForm decodes an exec-form (JSON array) argument.
func execForm(t *testing.T, in instruction) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(in.Args), &argv); err != nil {
		t.Fatalf("line %d: %s %s is not exec form (a JSON array): %v", in.Line, in.Cmd, in.Args, err)
	}
	return argv
}

// shellWords splits a shell command line into words: quotes, ${VAR}/$VAR
// expansion from vars. Enough for the RUN line of the build stage.
func shellWords(t *testing.T, s string, vars map[string]string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	inWord := false
	expand := func(i int) int {
		// s[i] == '$'
		name, j := "", i+1
		if j < len(s) && s[j] == '{' {
			end := strings.IndexByte(s[j:], '}')
			if end < 0 {
				t.Fatalf("unterminated ${ in %q", s)
			}
			name, j = s[j+1:j+end], j+end+1
		} else {
			for j < len(s) && (s[j] == '_' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			name = s[i+1 : j]
		}
		v, ok := vars[name]
		if !ok {
			t.Fatalf("$%s is used in the build command but is no ARG", name)
		}
		w.WriteString(v)
		return j
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
			i++
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				t.Fatalf("unterminated ' in %q", s)
			}
			w.WriteString(s[i+1 : i+1+end])
			inWord, i = true, i+end+2
		case c == '"':
			i++
			for i < len(s) && s[i] != '"' {
				if s[i] == '$' {
					i = expand(i)
					continue
				}
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				w.WriteByte(s[i])
				i++
			}
			if i >= len(s) {
				t.Fatalf("unterminated \" in %q", s)
			}
			inWord, i = true, i+1
		case c == '$':
			i = expand(i)
			inWord = true
		case c == '&' || c == ';' || c == '|':
			t.Fatalf("the go build RUN line must be one command, found %q", string(c))
		default:
			w.WriteByte(c)
			inWord, i = true, i+1
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// buildCommand is the `go build` of the Dockerfile, ready to run elsewhere.
type buildCommand struct {
	Env    []string // NAME=value assignments before the command
	Args   []string // after "go": build -trimpath -ldflags … -o OUT PKG
	Output string   // the -o argument
}

// dockerBuild extracts the build stage's go build command, expanding ARGs
// with their defaults, overridden by args (as --build-arg would).
func dockerBuild(t *testing.T, args map[string]string) (buildCommand, []*stage) {
	t.Helper()
	global, stages := parseDockerfile(t, "../Dockerfile")
	vars := map[string]string{}
	setArg := func(in instruction) {
		name, def, _ := strings.Cut(in.Args, "=")
		vars[name] = strings.Trim(def, `"`)
		if v, ok := args[name]; ok {
			vars[name] = v
		}
	}
	for _, in := range global {
		if in.Cmd == "ARG" {
			setArg(in)
		}
	}
	var found []buildCommand
	for _, st := range stages[:len(stages)-1] {
		for _, in := range st.Instructions {
			switch in.Cmd {
			case "ARG":
				setArg(in)
			case "RUN":
				if !strings.Contains(in.Args, "go build") {
					continue
				}
				words := shellWords(t, in.Args, vars)
				var bc buildCommand
				for len(words) > 0 && regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`).MatchString(words[0]) {
					bc.Env, words = append(bc.Env, words[0]), words[1:]
				}
				if len(words) < 2 || words[0] != "go" || words[1] != "build" {
					t.Fatalf("line %d: expected [ENV=… ] go build …, got %q", in.Line, words)
				}
				bc.Args = words[1:]
				for i, a := range bc.Args {
					if a == "-o" && i+1 < len(bc.Args) {
						bc.Output = bc.Args[i+1]
					}
				}
				found = append(found, bc)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d go build commands in the build stages, want 1", len(found))
	}
	return found[0], stages
}

func TestDockerfile(t *testing.T) {
	bc, stages := dockerBuild(t, nil)
	final := stages[len(stages)-1]

	// A minimal base: distroless static, or scratch.
	if !strings.HasPrefix(final.From, "gcr.io/distroless/static") && final.From != "scratch" {
		t.Errorf("final stage FROM %s: want gcr.io/distroless/static… or scratch", final.From)
	}
	// A numeric non-root user: Kubernetes' runAsNonRoot can verify only a number.
	user := final.last(t, "USER").Args
	uid, gid, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q: want a numeric non-zero uid", user)
	}
	if gid != "" {
		if n, err := strconv.Atoi(gid); err != nil || n == 0 {
			t.Errorf("USER %q: want a numeric non-zero gid", user)
		}
	}
	// The static build.
	if !slices.Contains(bc.Env, "CGO_ENABLED=0") {
		t.Errorf("go build env %v lacks CGO_ENABLED=0", bc.Env)
	}
	if !slices.Contains(bc.Args, "-trimpath") {
		t.Errorf("go build %v lacks -trimpath", bc.Args)
	}
	ldflags := ""
	for i, a := range bc.Args {
		if a == "-ldflags" && i+1 < len(bc.Args) {
			ldflags = bc.Args[i+1]
		} else if v, ok := strings.CutPrefix(a, "-ldflags="); ok {
			ldflags = v
		}
	}
	if f := strings.Fields(ldflags); !slices.Contains(f, "-s") || !slices.Contains(f, "-w") {
		t.Errorf("-ldflags %q lacks -s -w", ldflags)
	}
	if !strings.Contains(ldflags, "-X main.version=") {
		t.Errorf("-ldflags %q does not stamp main.version", ldflags)
	}
	if last := bc.Args[len(bc.Args)-1]; last != "./cmd/authgate" {
		t.Errorf("go build builds %s, want ./cmd/authgate", last)
	}
	// The binary built there is the one the final stage runs.
	copied := false
	for _, in := range final.all("COPY") {
		f := strings.Fields(in.Args)
		if len(f) == 3 && strings.HasPrefix(f[0], "--from=") && f[1] == bc.Output && f[2] == "/authgate" {
			copied = true
		}
	}
	if !copied {
		t.Errorf("final stage does not COPY --from=<build> %s /authgate", bc.Output)
	}
	if got := execForm(t, final.last(t, "ENTRYPOINT")); !slices.Equal(got, []string{"/authgate"}) {
		t.Errorf("ENTRYPOINT %q, want [\"/authgate\"]", got)
	}
	if got := execForm(t, final.last(t, "CMD")); !slices.Equal(got, []string{"serve"}) {
		t.Errorf("CMD %q, want [\"serve\"]", got)
	}
	hc := final.last(t, "HEALTHCHECK")
	i := strings.Index(hc.Args, "CMD ")
	if i < 0 {
		t.Fatalf("HEALTHCHECK %q has no CMD", hc.Args)
	}
	if got := execForm(t, instruction{Cmd: "HEALTHCHECK", Args: hc.Args[i+4:], Line: hc.Line}); !slices.Equal(got, []string{"/authgate", "healthcheck"}) {
		t.Errorf("HEALTHCHECK CMD %q, want the binary itself", got)
	}
	var exposed []string
	for _, in := range final.all("EXPOSE") {
		exposed = append(exposed, strings.Fields(in.Args)...)
	}
	for _, p := range []string{"8080", "9090"} {
		if !slices.Contains(exposed, p) && !slices.Contains(exposed, p+"/tcp") {
			t.Errorf("EXPOSE %v lacks %s", exposed, p)
		}
	}
	// The ports are authgate's defaults.
	if !strings.Contains(fmt.Sprint(exposed), "8080") {
		t.Error("proxy port not exposed")
	}
}

func TestDockerignore(t *testing.T) {
	data, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	if !slices.Contains(patterns, ".git") {
		t.Error(".dockerignore does not exclude .git")
	}
	for _, needed := range []string{"go.mod", "go.sum", "cmd", "config", "proxy", "oidcflow", "tokens", "store", "cookies", "metrics", "requestid"} {
		for _, p := range patterns {
			if p == needed || p == needed+"/" || p == "*" || p == "**" {
				t.Errorf(".dockerignore excludes %s, which the build needs", needed)
			}
		}
	}
}
