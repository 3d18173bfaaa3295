"""Each option declared once: a dataclass field carries its flag, help, default and whether a sweep may vary it.

The command line's Typer parameters, a sweep's per-cell overrides and the options a run records are all derived
from these fields, so an option and its default are written in one place. No TensorFlow here (the CLI's top level
and the device side import this module).

    epochs: int = opt(30, help="Fine-tuning epochs.", sweep=True)

``opt`` makes the field; ``shared(Cls, "epochs")`` declares the same option (same default, same help) in another
options class; ``command(app, Cls)`` turns a function ``fn(o: Cls, **extras)`` into a Typer command whose options are
the fields of ``Cls``; ``cli_defaults(command)`` reads back what the command line defaults to (the option test).
"""
from __future__ import annotations

import dataclasses
import inspect
import math
from dataclasses import MISSING, Field
from typing import Any, Callable, List, Optional

from ..errors import UserError

_KEY = "edgeprune"


def opt(default: Any = MISSING, *, factory: Callable[[], Any] | None = None, help: str | Callable[[], str] = "",
        flag: str | None = None, short: str | None = None, cli: bool = True, sweep: bool = False,
        kind: type | None = None, items: type | None = None, repeat: bool = False, argument: bool = False,
        records: bool = True, parse: Callable[[str], Any] | None = None, shown: str | None = None) -> Any:
    """A field of an options class, with what the command line needs to show it.

    ``kind``: the type the command line parses (default: the default's type); ``items``: a comma-separated list of
    ``items`` (str, int or float); ``repeat``: the option may be given several times; ``cli=False``: a library-only
    field; ``sweep=True``: a sweep may set it for every cell (``sweep --epochs``); ``records=False``: not part of the
    options a run records (its name, --force). A boolean's ``flag`` may name both ways: "--xnnpack/--no-xnnpack".
    ``parse``: turns the command line's text into the field's value (``shown``: the text of the default)."""
    meta = {_KEY: dict(help=help, flag=flag, short=short, cli=cli, sweep=sweep, kind=kind, items=items, repeat=repeat,
                       argument=argument, records=records, parse=parse, shown=shown)}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def shared(cls: type, name: str, **changes) -> Any:
    """The option ``name`` of ``cls``, declared again in another options class with the same default and help."""
    f = field_of(cls, name)
    meta = {**f.metadata.get(_KEY, {}), **changes}
    if f.default_factory is not MISSING:  # type: ignore[misc]
        return dataclasses.field(default_factory=f.default_factory, metadata={_KEY: meta})  # type: ignore[misc]
    return dataclasses.field(default=f.default, metadata={_KEY: meta})


def field_of(cls: type, name: str) -> Field:
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f
    raise KeyError(f"{cls.__name__} has no option {name!r}")


def meta(f: Field) -> dict:
    return f.metadata.get(_KEY) or {}


def default_of(f: Field) -> Any:
    return f.default_factory() if f.default_factory is not MISSING else f.default  # type: ignore[misc]


def cli_fields(cls: type) -> list[Field]:
    return [f for f in dataclasses.fields(cls) if meta(f) and meta(f).get("cli", True)]


def sweep_fields(cls: type) -> list[str]:
    """The options of ``cls`` a sweep may set for every cell."""
    return [f.name for f in dataclasses.fields(cls) if meta(f).get("sweep")]


def recorded(o: Any) -> dict:
    """The options as a run records them: every field but those that only name or place the output."""
    return {f.name: _plain(getattr(o, f.name)) for f in dataclasses.fields(o) if meta(f).get("records", True)}


def same_options(cls: type, old: dict | None, new: dict) -> bool:
    """Whether options recorded earlier (``old``) are ``new``: a recorded option an older edgeprune did not know yet
    counts as its default, so adding an option does not make every earlier run or sweep cell stale."""
    if not isinstance(old, dict):
        return False
    defaults = {f.name: _plain(default_of(f)) for f in dataclasses.fields(cls) if meta(f).get("records", True)
                and (f.default is not MISSING or f.default_factory is not MISSING)}  # type: ignore[misc]
    return {**{k: v for k, v in defaults.items() if k in new}, **old} == new


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, (list, tuple)) else v


def flag_of(f: Field) -> str:
    """The option's flag; a boolean without its own names both ways, as Typer does (--force/--no-force)."""
    if meta(f).get("flag"):
        return meta(f)["flag"]
    name = "--" + f.name.replace("_", "-")
    return f"{name}/--no-{f.name.replace('_', '-')}" if isinstance(f.default, bool) else name


def parse_items(text: str, what: str, kind: type = str) -> list:
    """A comma-separated option as a list of ``kind`` (str, int or float); empty or malformed is a user error."""
    names = {str: "names", int: "integers", float: "numbers"}
    try:
        vals = [kind(v.strip()) for v in str(text).split(",") if v.strip()]
    except ValueError:
        vals = None
    if not vals or (kind is float and any(not math.isfinite(v) for v in vals)):
        raise UserError(f"{what} must be comma-separated {names[kind]}, got {text!r}")
    return vals


def _cli_default(f: Field) -> Any:
    d = default_of(f)
    m = meta(f)
    if m.get("parse"):
        return m.get("shown")
    if m.get("items") and isinstance(d, (list, tuple)):
        return ",".join(str(v) for v in d) or None  # an empty list: the option left out
    if m.get("repeat"):
        return None
    return d


def _annotation(f: Field) -> Any:
    m = meta(f)
    if m.get("parse"):
        return Optional[str]
    if m.get("repeat"):
        return Optional[List[m.get("items") or str]]
    if m.get("items"):
        return Optional[str]
    required = f.default is MISSING and f.default_factory is MISSING  # type: ignore[misc]
    kind = m.get("kind")
    if kind is None:
        d = None if required else default_of(f)
        kind = type(d) if d is not None else str
    return kind if required or default_of(f) is not None else Optional[kind]


def parameter(f: Field, help: str | Callable[[], str] | None = None) -> inspect.Parameter:
    """The Typer parameter of one field (``help``: the command's own text for it, e.g. a registry's list)."""
    import typer

    m = meta(f)
    help_ = help or m.get("help") or ""
    help_ = help_() if callable(help_) else help_
    required = f.default is MISSING and f.default_factory is MISSING  # type: ignore[misc]
    if m.get("argument"):
        info = typer.Argument(... if required else _cli_default(f), help=help_, show_default=False)
    else:
        decls = [flag_of(f)] + ([m["short"]] if m.get("short") else [])
        info = typer.Option(... if required else _cli_default(f), *decls, help=help_)
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=_annotation(f))


def from_cli(cls: type, values: dict, base: dict | None = None) -> Any:
    """An instance of ``cls`` from the parsed command line (lists split, repeated options listed)."""
    kw = dict(base or {})
    for f in cli_fields(cls):
        if f.name not in values:
            continue
        v = values[f.name]
        m = meta(f)
        if m.get("parse"):
            v = m["parse"](v if v is not None else m.get("shown"))
        elif v is None and default_of(f) is not None:
            continue  # left out: the field's own default (an empty list)
        elif m.get("repeat"):
            v = [str(x) for x in v or []]
        elif m.get("items") and v is not None:
            v = parse_items(v, flag_of(f), m["items"])
        elif v is not None and m.get("kind") is str:
            v = str(v)
        kw[f.name] = v
    return cls(**kw)


def command(app, cls: type, name: str | None = None, skip: tuple[str, ...] = (),
            helps: dict[str, Callable[[], str]] | None = None):
    """Register ``fn(o, **extras)`` as a Typer command whose options are ``cls``'s fields (those not in ``skip``),
    after ``fn``'s own parameters (arguments and options that are not part of ``cls``, e.g. the workspace).
    ``helps``: help texts the command knows better than the field (a registry's names)."""

    def deco(fn: Callable) -> Callable:
        own = list(inspect.signature(fn, eval_str=True).parameters.values())[1:]
        own_names = {p.name for p in own}
        fields = [f for f in cli_fields(cls) if f.name not in skip and f.name not in own_names]
        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + [parameter(f, (helps or {}).get(f.name)) for f in fields]

        def wrapper(**kw):
            extras = {n: kw.pop(n) for n in list(kw) if n in own_names}
            return fn(from_cli(cls, kw), **extras)

        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        wrapper.__doc__, wrapper.__name__ = fn.__doc__, fn.__name__
        wrapper.__module__ = fn.__module__
        wrapper.__qualname__ = fn.__qualname__
        wrapper.options_class = cls  # type: ignore[attr-defined]
        wrapper.own_parameters = sorted(own_names)  # type: ignore[attr-defined]
        app.command(name)(wrapper)
        return wrapper

    return deco


__all__ = ["opt", "shared", "field_of", "meta", "default_of", "cli_fields", "sweep_fields", "recorded", "flag_of",
           "parse_items", "parameter", "from_cli", "command"]
