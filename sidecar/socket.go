package sidecar

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
)

// listenSocket listens on the Unix socket at path with the file mode mode. A file already at path is
// removed only when it is a socket nobody answers on (left behind by a process that died); a socket
// in use, or any other kind of file, is an error. The returned listener unlinks path when closed.
func listenSocket(path string, mode os.FileMode) (*net.UnixListener, error) {
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("sidecar: socket directory: %w", err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("sidecar: listen: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	// The socket exists with the umask's permissions between bind and chmod; nobody can have been
	// told its path yet, and the directory (an emptyDir shared with the app) is not world-writable.
	if err := os.Chmod(path, mode); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("sidecar: chmod socket: %w", err)
	}
	return ln, nil
}

func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sidecar: socket path: %w", err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("sidecar: %s exists and is not a socket; not removing it", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		_ = c.Close()
		return fmt.Errorf("sidecar: %s is in use by another process", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("sidecar: remove stale socket: %w", err)
	}
	return nil
}
