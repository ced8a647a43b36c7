"""The installed package's version (one home, so that no module imports the package itself)."""

from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("charrnn")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
