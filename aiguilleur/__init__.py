"""aiguilleur: self-hosted traffic-signal recommendations; the composition root (settings, wiring,
CLI)."""

__version__ = "0.1.0"
