package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadYAML: whatever the configuration file holds, Load returns a config
// or an error — it never panics — and an error never carries the secrets.
func FuzzLoadYAML(f *testing.F) {
	for _, seed := range []string{
		"",
		"client_id: x\n",
		"role_rules:\n  - group: a\n    role: b\n",
		"route_rules:\n  - prefix: /a/\n    roles: [r]\n    groups: [g]\n",
		"route_rules: [1, [2], {prefix: 3, roles: {a: b}}]\n",
		"role_rules: [{group: [a], role: {b: c}}, x]\n",
		"scopes: {a: b}\ntrusted_proxies: [[1]]\npublic_routes: 5\n",
		"production: [true]\ntoken_cache_entries: 1e400\ncookie_max_age: []\n",
		"token_cache_entries: 99999999999999999999999\n",
		"a: &a [*a]\n",
		"? [a]\n: b\n",
		"1: 2\n",
		"client_secret: !!binary aGVsbG8=\n",
		"cookie_secret: ~\n",
		"--- \n...\n",
		"client_id: !!float .nan\n",
		"- a\n",
		"\"unterminated",
	} {
		f.Add(seed)
	}
	dir := f.TempDir()
	var n int
	f.Fuzz(func(t *testing.T, content string) {
		n++
		path := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		fs := Flags("authgate")
		if err := fs.Parse([]string{"--config", path}); err != nil {
			t.Fatal(err)
		}
		c, err := Load(Source{Flags: fs, Env: fakeEnv(seedEnv())})
		if err == nil {
			if c == nil || c.Issuer == "" {
				t.Fatal("nil config without error")
			}
			return
		}
		if c != nil {
			t.Fatal("config returned with an error")
		}
		for _, s := range []string{clientSecret, cookieSecret} {
			if strings.Contains(err.Error(), s) {
				t.Fatalf("error leaks a secret: %v", err)
			}
		}
	})
}
