//go:build !linux

package sidecar

import (
	"errors"
	"net"
)

// peerUID is not implemented outside Linux: a configured uid allow-list then refuses every peer.
func peerUID(net.Conn) (uint32, error) {
	return 0, errors.New("peer credentials are only checked on Linux")
}
