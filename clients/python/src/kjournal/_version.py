"""The package version (also sent to the sidecar in hello)."""

__version__ = "0.1.0"
