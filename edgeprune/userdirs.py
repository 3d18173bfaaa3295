"""Where edgeprune keeps what belongs to the user rather than to one workspace: the decoded-image cache and the
list of dataset folders the user has named.

- cache: ``$EDGEPRUNE_CACHE``, else ``$XDG_CACHE_HOME/edgeprune``, else ``~/.cache/edgeprune``;
- config: ``$EDGEPRUNE_CONFIG``, else ``$XDG_CONFIG_HOME/edgeprune``, else ``~/.config/edgeprune``.
"""
from __future__ import annotations

import os
from pathlib import Path


def _root(own: str, xdg: str, fallback: str) -> Path:
    if os.environ.get(own):
        return Path(os.environ[own]).expanduser()
    if os.environ.get(xdg):
        return Path(os.environ[xdg]).expanduser() / "edgeprune"
    return Path.home() / fallback / "edgeprune"


def cache_root() -> Path:
    return _root("EDGEPRUNE_CACHE", "XDG_CACHE_HOME", ".cache")


def config_root() -> Path:
    return _root("EDGEPRUNE_CONFIG", "XDG_CONFIG_HOME", ".config")
