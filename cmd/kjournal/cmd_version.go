package main

import (
	"context"
	"fmt"
	"os"

	"github.com/kjournal/kjournal/internal/buildinfo"
)

func init() {
	commands["version"] = command{summary: "print the version, git revision and Go version", run: runVersion}
}

func runVersion(_ context.Context, args []string) int {
	if len(args) > 0 {
		fmt.Fprintln(os.Stderr, "usage: kjournal version (it takes no arguments)")
		return 2
	}
	fmt.Print(buildinfo.String())
	return 0
}
