// Command kjournal-image builds kjournal's container image without Docker (see internal/image):
//
//	go run ./cmd/kjournal-image -repository ghcr.io/kjournal/kjournal -version 0.1.0 -revision $(git rev-parse HEAD) -out .run/image/kjournal.tar
//
// `make image` runs it. It prints the tag and the image digest.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kjournal/kjournal/internal/image"
)

func main() {
	var o image.Options
	var epoch int64
	flag.StringVar(&o.Repository, "repository", "", "the image repository; the tag is -version (required)")
	flag.StringVar(&o.Version, "version", "", "the release version: linked into the binary, the tag and the version label (required)")
	flag.StringVar(&o.Revision, "revision", "", "the git revision")
	flag.StringVar(&o.Source, "source", "", "the org.opencontainers.image.source label")
	flag.StringVar(&o.Licenses, "licenses", "", "the org.opencontainers.image.licenses label (SPDX)")
	flag.StringVar(&o.GOARCH, "goarch", "", "the target architecture (default the host's)")
	flag.Int64Var(&epoch, "created", 0, "every timestamp in the image, in Unix seconds (SOURCE_DATE_EPOCH)")
	flag.StringVar(&o.Out, "out", "", "the docker-save tarball to write (required)")
	flag.Parse()
	if flag.NArg() > 0 || o.Repository == "" || o.Version == "" || o.Out == "" {
		flag.Usage()
		os.Exit(2)
	}
	o.Created = time.Unix(epoch, 0)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := image.Make(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kjournal-image:", err)
		os.Exit(1)
	}
	fmt.Printf("%s %s %s\n", o.Out, r.Tag, r.Digest)
}
