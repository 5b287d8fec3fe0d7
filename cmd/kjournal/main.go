// Command kjournal is the one kjournal binary: `kjournal sidecar`, `kjournal replicator` and the operator
// commands. Each subcommand lives in its own cmd_<name>.go and registers itself in commands; the logic
// stays in the importable packages.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/rcrowley/go-metrics"
)

// command is one subcommand. run gets the arguments after the subcommand's name and returns the exit
// code; it prints its own errors (one line, no stack trace).
type command struct {
	summary string
	run     func(ctx context.Context, args []string) int
}

var commands = map[string]command{}

func main() {
	// sarama records every request in go-metrics histograms that nothing here reads (the services
	// export their own Prometheus metrics): about 3% of the sidecar's CPU per append (pprof, P2).
	metrics.UseNilMetrics = true
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage()
		return 2
	}
	if args[0] == "--version" || args[0] == "-version" {
		args = []string{"version"}
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "kjournal: unknown command %q (see kjournal --help)\n", args[0])
		return 2
	}
	return c.run(ctx, args[1:])
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kjournal <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun `kjournal <command> --help` for a command's flags.")
}
