// Package metrics holds what kjournal's packages share about Prometheus registration.
package metrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c with reg and returns the collector to use: c itself, or the collector of the
// same kind already registered under c's name, so that several components in one process (a sidecar
// and a replicator in a test, two Journals) share their series instead of failing. A nil reg
// registers nothing. Any other registration error is returned with c.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// MustRegister is Register for components that keep an unregistrable collector working but
// unexported rather than fail (the error is a name clash with a collector of another kind).
func MustRegister[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	c, _ = Register(reg, c)
	return c
}
