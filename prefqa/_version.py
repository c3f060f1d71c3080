"""The package version, kept apart so any layer may import it."""

__version__ = "0.1.0"
