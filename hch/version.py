"""The package version, recorded in every transcript header."""

__version__ = "0.1.0"
