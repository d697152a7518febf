package config

// EnvNames returns every environment variable Load reads, in the order of the
// key table, followed by NODE_ENV. Deployment files (Kubernetes, Helm, Compose)
// are tested against this list, so a misspelt name in them fails a test
// instead of being silently ignored at start-up.
func EnvNames() []string {
	var names []string
	for _, k := range keys {
		names = append(names, k.Env...)
	}
	return append(names, "NODE_ENV")
}

// SecretEnvNames returns the environment variables that hold secrets: they
// belong in a Kubernetes Secret, never in a ConfigMap.
func SecretEnvNames() []string {
	var names []string
	for _, k := range keys {
		if k.Secret {
			names = append(names, k.Env...)
		}
	}
	return names
}
