package buildinfo

import (
	"runtime"
	"strings"
	"testing"
)

// Without -ldflags -X (as under go test) the version is the dev string and the revision is Go's
// stamp or "unknown"; the -X path is exercised by internal/image's test, which runs a linked binary.
func TestDefaults(t *testing.T) {
	if Version() != "dev" {
		t.Errorf("version %q without -ldflags, want dev", Version())
	}
	if Revision() == "" {
		t.Error("empty revision")
	}
	lines := strings.Split(String(), "\n")
	if len(lines) != 4 || lines[0] != "kjournal dev" || lines[1] != "revision: "+Revision() || lines[2] != "go: "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("String() = %q", String())
	}
}
