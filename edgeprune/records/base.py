"""Typed, versioned records: what edgeprune writes and reads back, one dataclass per kind, one place for its keys.

A record's fields are checked from their type hints when it is read (``from_dict``): a missing key, a value of the
wrong type, a number that is not finite or out of its range, or a file of an unknown (newer) version is a one-line
UserError naming the file and the key. Keys a record does not know are kept (``extra``) and written back, so a file
from a newer edgeprune or a user's own additions survive a round trip. Files written by edgeprune 0.1.0 carry no
"version" and read as version 1.
"""
from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from typing import Any, ClassVar

from ..errors import UserError


def fraction(default=None):
    """A field holding a number from 0 to 1 (or None)."""
    return dataclasses.field(default=default, metadata={"range": (0.0, 1.0)})


def bounded(lo, hi, default=dataclasses.MISSING):
    return dataclasses.field(default=default, metadata={"range": (lo, hi)})


def one_of(*choices, default=dataclasses.MISSING):
    return dataclasses.field(default=default, metadata={"choices": choices})


def matching(pattern: str, default=dataclasses.MISSING):
    return dataclasses.field(default=default, metadata={"pattern": re.compile(pattern)})


def extra_field():
    return dataclasses.field(default_factory=dict, repr=False)


def _show(v) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


_HINTS: dict[type, dict] = {}


def _hints(cls) -> dict:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _convert(value: Any, tp: Any, meta: dict, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        rest = [a for a in args if a is not type(None)]
        errors = []
        for a in rest:
            try:
                return _convert(value, a, meta, where)
            except UserError as exc:
                errors.append(exc)
        raise errors[0]
    if tp is Any:
        return value
    if isinstance(tp, type) and issubclass(tp, Record):
        return tp.from_dict(value, where)
    if tp is bool:
        if not isinstance(value, bool):
            raise UserError(f"{where} must be true or false, got {_show(value)}")
        return value
    if tp is int or tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (math.isfinite(value) or meta.get("infinite"))
        if tp is int and not (isinstance(value, int) and not isinstance(value, bool)):
            raise UserError(f"{where} must be an integer, got {_show(value)}")
        if not ok:
            raise UserError(f"{where} must be a finite number, got {_show(value)}")
        lo, hi = meta.get("range", (None, None))
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise UserError(f"{where} must be from {lo} to {hi}, got {_show(value)}")
        return float(value) if tp is float else value
    if tp is str:
        if not isinstance(value, str):
            raise UserError(f"{where} must be a string, got {_show(value)}")
        if "choices" in meta and value not in meta["choices"]:
            raise UserError(f"{where} must be one of {', '.join(map(repr, meta['choices']))}, got {_show(value)}")
        if "pattern" in meta and not meta["pattern"].fullmatch(value):
            raise UserError(f"{where} is not an allowed value: {_show(value)}")
        return value
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise UserError(f"{where} must be an object, got {_show(value)}")
        args = typing.get_args(tp)
        if args:
            return {str(k): _convert(v, args[1], {}, f"{where}[{k!r}]") for k, v in value.items()}
        return value
    if tp is list or origin is list:
        if not isinstance(value, list):
            raise UserError(f"{where} must be a list, got {_show(value)}")
        args = typing.get_args(tp)
        if args:
            return [_convert(v, args[0], meta, f"{where}[{i}]") for i, v in enumerate(value)]
        return value
    raise TypeError(f"records cannot check the type {tp!r}")  # a bug in a record definition, not in a file


def _plain(v: Any) -> Any:
    if isinstance(v, Record):
        return v.to_dict()
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


class Record:
    """Base of every record. Subclasses are dataclasses whose last field is ``extra: dict = extra_field()``."""

    KIND: ClassVar[str | None] = None  # the "kind" a file of this record carries (None: no kind key)
    TOP: ClassVar[bool] = False  # a whole file: it carries a "version" (records inside other files do not)
    VERSION: ClassVar[int] = 1  # the version written; every earlier version is read
    WHAT: ClassVar[str] = "record"  # what to call it in messages

    extra: dict

    @classmethod
    def from_dict(cls, d: Any, where: str):
        if not isinstance(d, dict):
            raise UserError(f"{where} is not a JSON object (got {type(d).__name__}); it is not {cls._a()} {cls.WHAT}")
        if cls.KIND is not None and d.get("kind") != cls.KIND:
            raise UserError(f"{where} is not {cls._a()} {cls.WHAT} written by edgeprune (kind {_show(d.get('kind'))})")
        if cls.TOP:
            v = d.get("version", 1)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise UserError(f"{where}: 'version' must be a positive integer, got {_show(v)}")
            if v > cls.VERSION:
                raise UserError(f"{where} is {cls.WHAT} version {v}, written by a newer edgeprune (this one reads up "
                                f"to version {cls.VERSION}); upgrade edgeprune")
        hints = _hints(cls)
        kwargs: dict[str, Any] = {}
        names = set()
        for f in dataclasses.fields(cls):
            if f.name == "extra":
                continue
            names.add(f.name)
            if f.name in d:
                kwargs[f.name] = _convert(d[f.name], hints[f.name], dict(f.metadata), f"{where}: {f.name!r}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise UserError(f"{where} lacks the key {f.name!r}; it was not written by edgeprune, or was edited")
        skip = names | ({"kind"} if cls.KIND is not None else set()) | ({"version"} if cls.TOP else set())
        kwargs["extra"] = {k: v for k, v in d.items() if k not in skip}
        rec = cls(**kwargs)
        rec.check(where)
        return rec

    def check(self, where: str) -> None:
        """Checks across fields, after each field's own (raise UserError)."""

    def to_dict(self) -> dict:
        out: dict[str, Any] = {}
        if self.KIND is not None:
            out["kind"] = self.KIND
        if self.TOP:
            out["version"] = self.VERSION
        for f in dataclasses.fields(self):
            if f.name != "extra":
                out[f.name] = _plain(getattr(self, f.name))
        out.update({k: v for k, v in self.extra.items() if k not in out})
        return out

    @classmethod
    def _a(cls) -> str:
        return "an" if cls.WHAT[:1] in "aeiou" else "a"
