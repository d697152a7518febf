package deploy

import (
	"bytes"
	"crypto/rand"
	"debug/elf"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authgate/authgate/devprovider"
	"github.com/authgate/authgate/internal/testproc"
)

const testVersion = "v0.0.0-dockerfile-test"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildOut  []byte
)

// binary builds cmd/authgate once, with exactly the Dockerfile's go build
// command (its environment assignments and flags, ARGs expanded; VERSION set
// as --build-arg would), for this machine's OS and architecture.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		bc, _ := dockerBuild(t, map[string]string{"TARGETOS": runtime.GOOS, "TARGETARCH": runtime.GOARCH, "VERSION": testVersion})
		dir, err := os.MkdirTemp("", "authgate-docker-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "authgate")
		args := replaceArg(bc.Args, bc.Output, binPath)
		cmd := exec.Command("go", args...)
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), bc.Env...)
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build with the Dockerfile's flags: %v\n%s", buildErr, buildOut)
	}
	if binPath == "" {
		t.Fatal("the Dockerfile's go build command could not be extracted (see the first failing test)")
	}
	return binPath
}

func replaceArg(args []string, old, new string) []string {
	out := append([]string(nil), args...)
	for i := range out {
		if out[i] == old {
			out[i] = new
		}
	}
	return out
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// The Dockerfile's flags give a static, stripped, path-free binary that runs.
func TestDockerfileBinary(t *testing.T) {
	bin := binary(t)
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "authgate "+testVersion {
		t.Errorf("authgate version: %q, %v; want \"authgate %s\" (-X main.version)", out, err, testVersion)
	}
	if runtime.GOOS != "linux" {
		return
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has a dynamic loader (PT_INTERP): not static, it would not start on distroless/static")
		}
	}
	if f.Section(".symtab") != nil {
		t.Error("the binary has a symbol table: -s missing")
	}
	if f.Section(".debug_info") != nil || f.Section(".zdebug_info") != nil {
		t.Error("the binary has DWARF: -w missing")
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := filepath.Abs("..")
	if bytes.Contains(data, []byte(root+string(filepath.Separator))) {
		t.Errorf("the binary contains the build path %s: -trimpath missing", root)
	}
}

// instance is a running authgate process with an embedded provider and a
// recording upstream.
type instance struct {
	Addr, Admin string
	proc        *testproc.Process
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// startInstance runs the binary against an embedded provider (devprovider)
// with upstream, and waits for /readyz.
func startInstance(t *testing.T, upstream http.Handler, extraEnv ...string) *instance {
	t.Helper()
	bin := binary(t)
	in := &instance{Addr: testproc.FreeAddr(t), Admin: testproc.FreeAddr(t)}

	prov := httptest.NewUnstartedServer(nil)
	prov.Start()
	t.Cleanup(prov.Close)
	secret := randomString(32)
	p, err := devprovider.New(devprovider.Options{
		BaseURL: prov.URL, Slug: "authgate", ClientID: "authgate-test", ClientSecret: secret,
		RedirectURIs: []string{"http://" + in.Addr + "/auth/callback"},
		Users:        []devprovider.User{{Username: "alice", Password: "alice"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	prov.Config.Handler = p
	up := httptest.NewServer(upstream)
	t.Cleanup(up.Close)

	cmd := exec.Command(bin, "serve")
	cmd.Env = append([]string{
		"PATH=/usr/bin:/bin",
		"AUTHENTIK_URL=" + prov.URL,
		"AUTHENTIK_APP_SLUG=authgate",
		"AUTHENTIK_CLIENT_ID=authgate-test",
		"AUTHENTIK_CLIENT_SECRET=" + secret,
		"API_URL=http://" + in.Addr,
		"COOKIE_SECRET=" + randomString(32),
		"UPSTREAM_URL=" + up.URL,
		"LISTEN_ADDR=" + in.Addr,
		"ADMIN_ADDR=" + in.Admin,
	}, extraEnv...)
	in.proc = testproc.Run(t, cmd, testproc.Options{Label: "authgate log", Stop: os.Kill})
	if err := in.proc.WaitHTTP("http://"+in.Admin+"/readyz", 20*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, in.proc.Output())
	}
	return in
}

// `authgate healthcheck` is the image's HEALTHCHECK: it asks ADMIN_ADDR.
func TestHealthcheckCommand(t *testing.T) {
	in := startInstance(t, http.NotFoundHandler())
	bin := binary(t)
	cmd := exec.Command(bin, "healthcheck")
	cmd.Env = []string{"ADMIN_ADDR=" + in.Admin}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("healthcheck against a running instance: %v\n%s", err, out)
	}
	// ":port" (the Dockerfile's default form) means this machine.
	_, port, _ := net.SplitHostPort(in.Admin)
	cmd = exec.Command(bin, "healthcheck")
	cmd.Env = []string{"ADMIN_ADDR=:" + port}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("healthcheck with ADMIN_ADDR=:%s: %v\n%s", port, err, out)
	}
	cmd = exec.Command(bin, "healthcheck", testproc.FreeAddr(t))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("healthcheck against nothing: %v (%s), want exit status 1", err, out)
	}
}

// SIGTERM: the listener closes at once (new connections are refused), the
// request in flight completes, the store is closed, and the exit status is 0.
func TestGracefulShutdown(t *testing.T) {
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/slow" {
			http.NotFound(w, r)
			return
		}
		started <- struct{}{}
		<-release
		io.WriteString(w, "slow answer")
	})
	in := startInstance(t, upstream, "AUTHGATE_PUBLIC_ROUTES=/slow")

	type result struct {
		status int
		body   string
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + in.Addr + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res <- result{status: resp.StatusCode, body: string(b), err: err}
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request never reached the upstream")
	}
	if err := in.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// New connections are refused while the request is still in flight.
	refused := false
	var lastErr error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", in.Addr, time.Second)
		if err == nil {
			c.Close()
			continue
		}
		// Only a refusal proves the listener is closed; a timeout on a
		// loaded machine proves nothing, so keep trying.
		if errors.Is(err, syscall.ECONNREFUSED) {
			refused = true
			break
		}
		lastErr = err
	}
	if !refused {
		t.Errorf("the listener still accepted connections after SIGTERM (last dial error: %v)", lastErr)
	}
	// Readiness turns false while draining, so no new traffic is routed here.
	if resp, err := http.Get("http://" + in.Admin + "/readyz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("/readyz while draining: %d, want 503", resp.StatusCode)
		}
	}
	select {
	case r := <-res:
		t.Fatalf("the in-flight request ended before the upstream answered: %+v", r)
	case <-in.proc.Done():
		t.Fatal("authgate exited with a request in flight")
	case <-time.After(300 * time.Millisecond):
	}

	close(release)
	select {
	case r := <-res:
		if r.err != nil || r.status != http.StatusOK || r.body != "slow answer" {
			t.Errorf("in-flight request after SIGTERM: %+v, want 200 \"slow answer\"", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the in-flight request did not complete")
	}
	select {
	case <-in.proc.Done():
		if err := in.proc.Err(); err != nil {
			t.Errorf("exit: %v, want status 0", err)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("authgate did not exit after draining")
	}
	log := in.proc.Output()
	for _, want := range []string{`"msg":"shutting down"`, `"msg":"stopped"`, `"store":"closed"`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s:\n%s", want, log)
		}
	}
}

// TestBinaryKeepsDeadCodeElimination fails when code that calls a method
// chosen at run time (reflect.Value.Method or MethodByName, as executing an
// html/template or text/template does) becomes reachable from cmd/authgate.
// The linker then keeps every exported method of every type in the binary:
// go-redis's command API and pgx's alone made it 27.7 MB instead of 19.2 MB,
// and start-up mapped 2.5 MB more of it (peak RSS is a benchmark target).
func TestBinaryKeepsDeadCodeElimination(t *testing.T) {
	cmd := exec.Command("go", "build", "-ldflags=-dumpdep", "-o", os.DevNull, "./cmd/authgate")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build -ldflags=-dumpdep: %v\n%.2000s", err, out)
	}
	var culprits []string
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, "<ReflectMethod>") {
			culprits = append(culprits, strings.TrimSpace(line))
		}
	}
	if len(culprits) > 0 {
		t.Errorf("reachable code calls methods by reflection, so the linker keeps every exported method:\n%s",
			strings.Join(culprits, "\n"))
	}
	if !bytes.Contains(out, []byte("main.main")) {
		t.Errorf("the linker printed no dependency graph (did -dumpdep change?):\n%.500s", out)
	}
}
