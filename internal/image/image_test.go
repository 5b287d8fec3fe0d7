package image_test

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/kjournal/kjournal/internal/buildinfo"
	"github.com/kjournal/kjournal/internal/image"
)

func options(out string) image.Options {
	return image.Options{
		ModuleDir:  "../..",
		Repository: "example.com/kjournal/kjournal",
		Version:    "9.8.7-test",
		Revision:   "0123456789abcdef0123456789abcdef01234567",
		Source:     "https://example.com/kjournal",
		Licenses:   "NOASSERTION",
		Created:    time.Unix(1700000000, 0),
		Out:        out,
	}
}

// TestMake builds the image as `make image` does (image.Make), then reads the tarball as a user's
// tools would: the tag, the config, the layer's files, and the binary in it runs and knows its build.
func TestMake(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the image's binary is linux; running it needs a linux host")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	o := options(filepath.Join(dir, "kjournal.tar"))
	res, err := image.Make(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag("example.com/kjournal/kjournal:9.8.7-test")
	if err != nil {
		t.Fatal(err)
	}
	if res.Tag != tag {
		t.Errorf("tag %s, want %s", res.Tag, tag)
	}
	img, err := tarball.ImageFromPath(o.Out, &tag)
	if err != nil {
		t.Fatalf("the tarball does not hold %s: %v", tag, err)
	}
	// The digest Make reported is the one of the image in the tarball: what a push would publish.
	if d, err := img.Digest(); err != nil || d != res.Digest {
		t.Errorf("digest in the tarball %s (%v), Make reported %s", d, err, res.Digest)
	}

	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" {
		t.Errorf("user %q, want the numeric non-root 65532:65532", c.User)
	}
	if !slices.Equal(c.Entrypoint, []string{"/kjournal"}) || len(c.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q, want [/kjournal] and no cmd", c.Entrypoint, c.Cmd)
	}
	if c.WorkingDir != "/" {
		t.Errorf("working dir %q", c.WorkingDir)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	if !cf.Created.Time.Equal(o.Created) {
		t.Errorf("created %s, want %s", cf.Created, o.Created)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.title":    "kjournal",
		"org.opencontainers.image.version":  o.Version,
		"org.opencontainers.image.revision": o.Revision,
		"org.opencontainers.image.source":   o.Source,
		"org.opencontainers.image.licenses": o.Licenses,
	} {
		if got := c.Labels[k]; got != want {
			t.Errorf("label %s=%q, want %q", k, got, want)
		}
	}

	// The one layer: exactly the binary and the socket directory (owned by the user), no shell.
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers (%v), want 1", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	bin := filepath.Join(dir, "kjournal")
	var names []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if !h.ModTime.Equal(o.Created) {
			t.Errorf("%s: mtime %s, want %s", h.Name, h.ModTime, o.Created)
		}
		switch h.Name {
		case "kjournal":
			if h.Mode != 0o555 || h.Uid != 0 {
				t.Errorf("/kjournal: mode %o uid %d, want 0555 root-owned", h.Mode, h.Uid)
			}
			f, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		case "var/run/kjournal/":
			if h.Uid != 65532 || h.Gid != 65532 {
				t.Errorf("/var/run/kjournal owned by %d:%d, want the image's user", h.Uid, h.Gid)
			}
		}
	}
	if want := []string{"var/", "var/run/", "var/run/kjournal/", "kjournal"}; !slices.Equal(names, want) {
		t.Errorf("layer holds %q, want %q", names, want)
	}

	// The binary runs on its own (static: no libc in the image) and reports the build.
	for _, arg := range []string{"version", "--version"} {
		out, err := exec.CommandContext(ctx, bin, arg).CombinedOutput()
		if err != nil {
			t.Fatalf("kjournal %s: %v\n%s", arg, err, out)
		}
		for _, want := range []string{"kjournal 9.8.7-test\n", "revision: " + o.Revision + "\n", "go: " + runtime.Version() + " linux/" + runtime.GOARCH + "\n"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("kjournal %s printed %q, lacks %q", arg, out, want)
			}
		}
	}
	if out, err := exec.CommandContext(ctx, "go", "version", "-m", bin).CombinedOutput(); err != nil {
		t.Fatalf("go version -m: %v\n%s", err, out)
	} else if !strings.Contains(string(out), "CGO_ENABLED=0") || !strings.Contains(string(out), "-trimpath=true") {
		t.Errorf("the binary is not a static -trimpath build:\n%s", out)
	}

	// Reproducible: a second build of the same tree and options gives the same image digest.
	o2 := o
	o2.Out = filepath.Join(dir, "again.tar")
	res2, err := image.Make(ctx, o2)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Digest != res.Digest {
		t.Errorf("two builds of one tree: digests %s and %s", res.Digest, res2.Digest)
	}
}

func TestMake_Required(t *testing.T) {
	o := options(filepath.Join(t.TempDir(), "x.tar"))
	o.Version = ""
	if _, err := image.Make(context.Background(), o); err == nil {
		t.Fatal("Make without a version succeeded")
	}
	o = options(filepath.Join(t.TempDir(), "x.tar"))
	o.Version = "not a tag"
	if _, err := image.Make(context.Background(), o); err == nil {
		t.Fatal("Make with an invalid tag succeeded")
	}
}

// TestDockerfile: the Dockerfile (for people with Docker; it cannot be built here) states the same
// image as Make: static -trimpath build with the version linked in, user, entrypoint, working
// directory, socket directory, labels.
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	want := []string{
		"FROM scratch\n",
		"CGO_ENABLED=0", "-trimpath", "-buildvcs=false", "./cmd/kjournal",
		buildinfo.VersionVar + "=${VERSION}", buildinfo.RevisionVar + "=${REVISION}",
		"COPY --from=build /out/kjournal " + image.BinaryPath + "\n",
		"chmod 0555 /out/kjournal",
		"COPY --from=build --chown=" + image.User + " /out" + image.SocketDir + " " + image.SocketDir + "\n",
		"USER " + image.User + "\n",
		"WORKDIR " + image.WorkingDir + "\n",
		`ENTRYPOINT ["` + image.BinaryPath + `"]` + "\n",
	}
	for k := range image.Labels(image.Options{}) {
		want = append(want, k+"=")
	}
	for _, w := range want {
		if !strings.Contains(df, w) {
			t.Errorf("the Dockerfile lacks %q", w)
		}
	}
}
