// Package deploy holds no code. It is the home of authgate's deployment files
// (Kubernetes, Helm, Authentik, Docker Compose, front-proxy examples) and of
// the tests that keep them in agreement with the code: the Dockerfile's build
// flags produce a working static binary, every environment name they set is
// one config.Load reads, probes point at the admin port, the Helm chart
// renders (with the real helm) the Pod the kustomize base describes, and the
// Authentik blueprint creates what authgate's configuration expects.
package deploy
