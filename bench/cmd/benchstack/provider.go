package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/bench"
	"github.com/authgate/authgate/cookies"
	"github.com/authgate/authgate/devprovider"
)

// Files the provider command writes into its -dir.
const (
	fileToken  = "token"  // one access token (RS256)
	fileCookie = "cookie" // "name=value" of authgate's session cookie holding that token
	fileTokens = "tokens" // -n distinct access tokens, one per line
	fileReady  = "ready"  // written last
)

// provider runs devprovider (Authentik's URL layout, RS256) and mints what
// the load needs. Tokens live for -ttl so a long run never sees one expire.
func provider(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("provider", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "listen address (also the provider's public base)")
	dir := fs.String("dir", "", "output directory")
	n := fs.Int("n", 1000, "distinct tokens to mint")
	clientID := fs.String("client-id", "authgate-bench", "client id (the tokens' aud)")
	clientSecret := fs.String("client-secret", "", "client secret")
	cookieSecret := fs.String("cookie-secret", "", "authgate's COOKIE_SECRET, to seal the session cookie")
	ttl := fs.Duration("ttl", 6*time.Hour, "token lifetime")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *clientSecret == "" || *cookieSecret == "" {
		return fmt.Errorf("-dir, -client-secret and -cookie-secret are required")
	}
	p, err := devprovider.New(devprovider.Options{
		BaseURL:        "http://" + *listen,
		Slug:           "authgate",
		ClientID:       *clientID,
		ClientSecret:   *clientSecret,
		AccessTokenTTL: *ttl,
		RedirectURIs:   []string{"http://127.0.0.1/oauth2/callback"},
		Users: []devprovider.User{{
			Username: "alice", Password: "alice", Email: "alice@example.com", Name: "Alice Example",
			OrganizationID: "org-1", Groups: []string{"ecosire-admins", "staff"},
		}},
	})
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- bench.Serve(ctx, *listen, p) }()

	tok, err := p.AccessToken("alice", nil)
	if err != nil {
		return err
	}
	cookie, err := sessionCookie(*cookieSecret, tok, time.Now().Add(*ttl))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, fileToken), []byte(tok+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, fileCookie), []byte(cookie+"\n"), 0o600); err != nil {
		return err
	}
	if err := mint(p, *n, filepath.Join(*dir, fileTokens)); err != nil {
		return err
	}
	// Minting 200,000 tokens leaves about a GiB of garbage; the provider
	// idles from here on, so give it back rather than sit on it.
	debug.FreeOSMemory()
	if err := os.WriteFile(filepath.Join(*dir, fileReady), nil, 0o600); err != nil {
		return err
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return nil
	}
}

// sessionCookie seals tok the way authgate's login does: the default cookie
// name on an http API_URL, with a login binding.
func sessionCookie(secret, tok string, exp time.Time) (string, error) {
	codec, err := cookies.NewCodec([]byte(secret), nil)
	if err != nil {
		return "", err
	}
	jar, err := cookies.NewJar(codec, cookies.JarConfig{
		AuthName: "authgate_auth", RefreshName: "authgate_refresh", AuthPrefix: "/auth", MaxAge: 168 * time.Hour,
	})
	if err != nil {
		return "", err
	}
	sealed, err := jar.SealBound(jar.Auth, tok, cookies.Binding{
		Session: randomString(16), ProviderSession: randomString(16), Subject: bench.AliceSub(), LoginAt: time.Now().Unix(),
	}, exp)
	if err != nil {
		return "", err
	}
	return jar.Auth.Name + "=" + sealed, nil
}

// mint writes n distinct access tokens (each has its own jti and sid) to
// path, signing on every core: an RS256 signature costs about a millisecond.
func mint(p *devprovider.Provider, n int, path string) error {
	toks := make([]string, n)
	var next, done atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var once sync.Once
	start := time.Now()
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t, err := p.AccessToken("alice", nil)
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				toks[i] = t
				if d := done.Add(1); d%20000 == 0 {
					fmt.Fprintf(os.Stderr, "provider: minted %d/%d tokens (%s)\n", d, n, time.Since(start).Round(time.Second))
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, t := range toks {
		w.WriteString(t)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// rsaCost prints the nanoseconds one raw RS256 verification takes on this
// process's CPU (run.sh pins it to the server's).
func rsaCost(args []string) error {
	fs := flag.NewFlagSet("rsa", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ns, err := measureRS256()
	if err != nil {
		return err
	}
	fmt.Println(ns)
	return nil
}

// measureRS256 is the median of three testing.Benchmark runs.
func measureRS256() (int64, error) {
	var runs []int64
	for range 3 {
		r := testing.Benchmark(func(b *testing.B) { bench.BenchmarkRS256(b) })
		if r.N == 0 {
			return 0, fmt.Errorf("RS256 benchmark failed")
		}
		runs = append(runs, r.NsPerOp())
	}
	return median(runs), nil
}
