"""The package version, kept in one place for the build and for ``__version__``."""

__version__ = "1.0.0.dev0"
