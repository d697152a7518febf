//go:build tools

// Package helm pins the Helm version that renders authgate's chart in its
// tests (see scripts/build-tools.sh). It is its own module so that Helm's
// Kubernetes dependency versions cannot move Hydra's or Caddy's.
package helm

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
