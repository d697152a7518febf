// Command benchstack starts the pieces of authgate's load benchmark and runs
// it. bench/run.sh is the entry point: it installs wrk and nginx, builds
// authgate, oauth2-proxy, the bare proxy (bench/cmd/bareproxy) and this
// program, and calls "benchstack run".
//
//	benchstack upstream  -listen ADDR                 the trivial app: "ok\n" (and /echo: the request headers as JSON)
//	benchstack fatrivial -listen ADDR                 a forward-auth handler answering 200 with fixed identity headers
//	benchstack provider  -listen ADDR -dir DIR -n N   the embedded OpenID provider; mints into DIR a token, a session
//	                                                  cookie and N distinct tokens, then serves discovery and JWKS
//	benchstack rsa                                    ns per raw RS256 verification (crypto/rsa alone)
//	benchstack run [flags]                            the comparison (run.go; flags: benchstack run -h)
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchstack upstream|fatrivial|provider|rsa|run [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "upstream":
		err = upstream(ctx, args)
	case "fatrivial":
		err = faTrivial(ctx, args)
	case "provider":
		err = provider(ctx, args)
	case "rsa":
		err = rsaCost(args)
	case "run":
		err = run(ctx, args)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchstack %s: %v\n", cmd, err)
		os.Exit(1)
	}
}
