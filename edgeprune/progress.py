"""How long work reports its progress without knowing who draws it (Rich in the CLI, nothing in tests)."""
from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    def task(self, description: str, total: int | None) -> None: ...
    def advance(self, n: int = 1) -> None: ...
    def log(self, message: str) -> None: ...
    def done(self) -> None: ...


class Silent:
    """The reporter for tests and library calls: says nothing."""

    def task(self, description: str, total: int | None) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def log(self, message: str) -> None:
        pass

    def done(self) -> None:
        pass
