// Package buildinfo is what a kjournal binary knows about its own build: the release version and
// the git revision, both set by the build with
//
//	-ldflags "-X github.com/kjournal/kjournal/internal/buildinfo.version=0.1.0 -X github.com/kjournal/kjournal/internal/buildinfo.revision=<sha>"
//
// (`make build` and `make image` do). A plain `go build` gets version "dev" and the revision Go
// stamps from the VCS, if any.
//
// The wire strings are separate and deliberately constant: journal.Version ("kjournal-0.1.0", the
// records' version header) and sidecar.ServerName ("kjournal/0.1.0", the hello reply) change only
// with the protocol and the record format, and the golden vectors pin them.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by -ldflags -X; see the package doc.
var (
	version  = "dev"
	revision = ""
)

// Package paths for -ldflags -X, so that the builders do not spell them out.
const (
	VersionVar  = "github.com/kjournal/kjournal/internal/buildinfo.version"
	RevisionVar = "github.com/kjournal/kjournal/internal/buildinfo.revision"
)

// Version is the release version the binary was built as, or "dev".
func Version() string { return version }

// Revision is the git revision the binary was built from: the one given to the linker, else the
// one Go stamped (vcs.revision, with "-dirty" for a modified tree), else "unknown".
func Revision() string {
	if revision != "" {
		return revision
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
		if rev != "" {
			return rev + dirty
		}
	}
	return "unknown"
}

// String is what `kjournal version` prints: one "key: value" line each.
func String() string {
	return fmt.Sprintf("kjournal %s\nrevision: %s\ngo: %s %s/%s\n", Version(), Revision(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
