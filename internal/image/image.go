// Package image builds kjournal's container image without Docker: a static kjournal binary (no cgo,
// -trimpath, the version linked in) as the one layer on an empty base, written as a `docker save`
// tarball. `make image` runs it through cmd/kjournal-image; its test builds through the same Make.
//
// The image:
//   - /kjournal (0555, root-owned) and /var/run/kjournal (0755, owned by the user below: the default
//     socket's directory, for `docker run` without a volume); nothing else: no shell, no libc, no CA
//     certificates (kjournal talks only to Kafka and Cassandra over plain TCP inside the cluster,
//     never to the internet over TLS);
//   - user 65532:65532 (distroless's "nonroot"), entrypoint ["/kjournal"], working directory "/";
//   - the OCI labels org.opencontainers.image.{title,version,revision,source,licenses};
//   - reproducible: every timestamp is Options.Created (default the Unix epoch), so one source tree,
//     version and Go toolchain give one image digest.
//
// Why a `docker save` tarball (tarball.Write) and not an OCI layout: it is the one file that
// `docker load` (every version; OCI archives only since Docker 25), `podman load`, `crane push FILE`
// and `skopeo copy docker-archive:FILE` all accept. A registry push converts it as usual.
package image

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kjournal/kjournal/internal/buildinfo"
)

// The image's fixed shape; the Dockerfile restates it.
const (
	User       = "65532:65532"
	nonroot    = 65532 // User's uid and gid
	BinaryPath = "/kjournal"
	SocketDir  = "/var/run/kjournal"
	WorkingDir = "/"
)

// Options says what to build. Repository, Version and Out are required.
type Options struct {
	ModuleDir  string    // the kjournal module's root; default the current directory
	Repository string    // e.g. ghcr.io/kjournal/kjournal; the tag is Version
	Version    string    // e.g. 0.1.0: linked into the binary, the tag, the version label
	Revision   string    // the git revision: linked in and the revision label; default "unknown"
	Source     string    // org.opencontainers.image.source
	Licenses   string    // org.opencontainers.image.licenses (SPDX)
	GOARCH     string    // default the host's
	Created    time.Time // every timestamp in the image; default the Unix epoch
	Out        string    // the tarball to write
}

// Result is what Make wrote.
type Result struct {
	Tag    name.Tag
	Digest v1.Hash // the image manifest's digest, as a registry would see it after a push
}

// Make builds the static binary, assembles the image and writes the tarball to o.Out (atomically).
func Make(ctx context.Context, o Options) (Result, error) {
	if o.Repository == "" || o.Version == "" || o.Out == "" {
		return Result{}, fmt.Errorf("image: Repository, Version and Out are required")
	}
	if o.Revision == "" {
		o.Revision = "unknown"
	}
	if o.GOARCH == "" {
		o.GOARCH = runtime.GOARCH
	}
	tag, err := name.NewTag(o.Repository + ":" + o.Version)
	if err != nil {
		return Result{}, fmt.Errorf("image: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
		return Result{}, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(o.Out), ".kjournal-image-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "kjournal")
	if err := BuildBinary(ctx, o, bin); err != nil {
		return Result{}, err
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		return Result{}, err
	}
	img, err := Assemble(exe, o)
	if err != nil {
		return Result{}, err
	}
	digest, err := img.Digest()
	if err != nil {
		return Result{}, err
	}
	part := filepath.Join(tmp, "image.tar")
	f, err := os.Create(part)
	if err != nil {
		return Result{}, err
	}
	if err := tarball.Write(tag, img, f); err != nil {
		f.Close()
		return Result{}, fmt.Errorf("image: write %s: %w", o.Out, err)
	}
	if err := f.Close(); err != nil {
		return Result{}, err
	}
	if err := os.Rename(part, o.Out); err != nil {
		return Result{}, err
	}
	return Result{Tag: tag, Digest: digest}, nil
}

// BuildBinary builds a static linux kjournal for o.GOARCH at out: CGO_ENABLED=0, -trimpath, no VCS
// stamp (the revision is linked in instead, so a modified work tree does not change the bytes).
func BuildBinary(ctx context.Context, o Options, out string) error {
	ldflags := fmt.Sprintf("-s -w -X %s=%s -X %s=%s", buildinfo.VersionVar, o.Version, buildinfo.RevisionVar, o.Revision)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out, "./cmd/kjournal")
	cmd.Dir = o.ModuleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("image: go build: %w\n%s", err, b)
	}
	return nil
}

// Labels are the image's OCI annotations-as-labels.
func Labels(o Options) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":    "kjournal",
		"org.opencontainers.image.version":  o.Version,
		"org.opencontainers.image.revision": o.Revision,
		"org.opencontainers.image.source":   o.Source,
		"org.opencontainers.image.licenses": o.Licenses,
	}
}

// Assemble is the image of the binary exe: one layer on empty.Image, with the config above.
func Assemble(exe []byte, o Options) (v1.Image, error) {
	created := o.Created
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	created = created.UTC()
	layerTar, err := layerTar(exe, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.DockerLayer))
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "kjournal make image", Comment: "static kjournal " + o.Version},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: created}
	cf.OS, cf.Architecture = "linux", o.GOARCH
	if o.GOARCH == "arm" {
		cf.Variant = "v7"
	}
	cf.Config = v1.Config{
		User:       User,
		Entrypoint: []string{BinaryPath},
		WorkingDir: WorkingDir,
		Labels:     Labels(o),
	}
	return mutate.ConfigFile(img, cf)
}

// layerTar is the one layer: the directories, the socket directory and the binary, in a fixed order
// with fixed times and owners.
func layerTar(exe []byte, mtime time.Time) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	dir := func(p string, owner int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: 0o755, Uid: owner, Gid: owner, ModTime: mtime, Format: tar.FormatUSTAR})
	}
	for _, d := range []string{"var", "var/run"} {
		if err := dir(d, 0); err != nil {
			return nil, err
		}
	}
	if err := dir(strings.TrimPrefix(SocketDir, "/"), nonroot); err != nil {
		return nil, err
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(BinaryPath, "/"), Mode: 0o555, Size: int64(len(exe)), ModTime: mtime, Format: tar.FormatUSTAR}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(exe); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
