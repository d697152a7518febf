// Command authgate puts OpenID Connect single sign-on in front of an
// unmodified web app, as a reverse proxy or as a forward-auth target.
//
//	authgate [serve] [flags]   run the proxy (configuration: env, --config file, flags)
//	authgate dev               zero-setup demo: embedded provider, demo app, in-memory store
//	authgate healthcheck       exit 0 when the admin listener reports healthy
//	authgate doctor [flags]    check the configuration against the live provider
//	authgate version
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
}

// run is main without the process: tests call it with their own arguments,
// environment and context.
func run(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, env, stdout, stderr)
	case "dev":
		return dev(ctx, args, env, stdout, stderr)
	case "healthcheck":
		return healthcheck(ctx, args, env, stderr)
	case "doctor":
		return doctorCmd(ctx, args, env, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "authgate", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, "usage: authgate [serve|dev|healthcheck|doctor|version] [flags]")
		return 0
	default:
		fmt.Fprintf(stderr, "authgate: unknown command %q (serve, dev, healthcheck, doctor, version)\n", cmd)
		return 2
	}
}
