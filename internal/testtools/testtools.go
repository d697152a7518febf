// Package testtools finds the external programs that scripts/build-tools.sh
// builds for the tests (Ory Hydra, Caddy). They live outside the work tree, in
// $AUTHGATE_TOOLS_BIN or the user cache directory, so a fresh clone on the
// same machine (as CI makes) reuses them instead of rebuilding for minutes.
package testtools

import (
	"fmt"
	"os"
	"path/filepath"
)

// Dir returns the directory holding the built tools.
func Dir() (string, error) {
	if d := os.Getenv("AUTHGATE_TOOLS_BIN"); d != "" {
		return d, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("testtools: %w", err)
	}
	return filepath.Join(cache, "authgate", "bin"), nil
}

// Path returns the path of tool name, or an error telling how to build it.
func Path(name string) (string, error) {
	d, err := Dir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(d, name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("testtools: %s not built (%v): run scripts/build-tools.sh", name, err)
	}
	return p, nil
}
