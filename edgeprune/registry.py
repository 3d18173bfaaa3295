"""A registry of named plug-ins (pruning methods, their implementations): one place for adding, removing, listing
and looking up by name. No TensorFlow here."""
from __future__ import annotations

from typing import Callable, Generic, TypeVar

from .errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, what: str, unknown: Callable[[str, list[str]], str]):
        self.what, self.unknown, self.items = what, unknown, {}  # type: ignore[var-annotated]

    def register(self, item: T) -> T:
        name = getattr(item, "name", "")
        if not name or name in self.items:
            raise ValueError(f"{self.what} needs a new name, got {name!r}")
        self.items[name] = item
        return item

    def unregister(self, name: str) -> None:
        self.items.pop(name, None)

    def names(self) -> list[str]:
        return list(self.items)

    def get(self, name: str) -> T:
        if name not in self.items:
            raise UserError(self.unknown(name, self.names()))
        return self.items[name]

    def find(self, name: str | None) -> T | None:
        """The item of that name, or None for a name this installation does not know (a file from elsewhere)."""
        return self.items.get(name or "")
