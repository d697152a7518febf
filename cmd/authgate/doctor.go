package main

import (
	"context"
	"fmt"
	"io"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/doctor"
)

// doctorCmd checks the configuration (the same environment, --config file and
// flags as serve) against the live provider and prints one line per check.
// Exit status: 0 all checks passed (warnings allowed), 1 a check failed,
// 2 the configuration itself is invalid.
func doctorCmd(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	fs, code, done := parseFlags("authgate doctor", args, stderr)
	if done {
		return code
	}
	cfg, err := config.Load(config.Source{Flags: fs, Env: env})
	if err != nil {
		fmt.Fprintln(stdout, "authgate doctor: the configuration does not load; fix these first:")
		fmt.Fprintln(stdout, err)
		return 2
	}
	report := doctor.Run(ctx, cfg, doctor.Options{})
	report.Write(stdout)
	if report.Failed() {
		return 1
	}
	return 0
}
