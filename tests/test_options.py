"""Each option declared once: every command's options come from one options class, with its defaults."""
from __future__ import annotations

import dataclasses

import pytest
import typer

from edgeprune.cli import app
from edgeprune.options import _cli_default, cli_fields, flag_of, meta, sweep_fields
from edgeprune.options.prune import PruneOptions

# commands whose options are still declared in cli.py by hand (each listed here is a known gap, not a pass)
NOT_YET: set[str] = set()


def _commands(group, prefix: str = ""):
    for name, cmd in group.commands.items():
        full = f"{prefix}{name}"
        if hasattr(cmd, "commands"):  # a group (typer's own click, or click's)
            yield from _commands(cmd, full + " ")
        else:
            yield full, cmd


COMMANDS = dict(_commands(typer.main.get_command(app)))


def test_every_command_is_declared_through_an_options_class_or_listed_as_a_gap():
    declared = {n for n, c in COMMANDS.items() if getattr(c.callback, "options_class", None)}
    assert declared == set(COMMANDS) - NOT_YET
    assert {"train", "import", "prune", "sweep", "export", "bench", "latency probe", "latency measure"} <= declared


@pytest.mark.parametrize("name", sorted(n for n in COMMANDS if n not in NOT_YET))
def test_each_cli_option_is_one_field_with_the_fields_default(name):
    cmd = COMMANDS[name]
    cls = cmd.callback.options_class
    own = set(cmd.callback.own_parameters)
    fields = {f.name: f for f in cli_fields(cls)}
    seen = []
    for p in cmd.params:
        if p.name in own or p.name == "help":
            continue
        assert p.name in fields, f"{name}: option {p.name} is not a field of {cls.__name__}"
        f = fields[p.name]
        seen.append(p.name)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            assert p.required, (name, p.name)  # required in the library, so on the command line too
        else:
            assert p.default == _cli_default(f), (name, p.name, p.default, _cli_default(f))
        if not meta(f).get("argument"):
            assert flag_of(f).split("/")[0] in p.opts, (name, p.name, p.opts)
    assert sorted(seen) == sorted(n for n in fields if n not in own)  # every field once, no option twice
    # the library's defaults are the command line's: an instance built from the defaults equals cls()
    required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING]
    if not required:
        from edgeprune.options import from_cli

        assert from_cli(cls, {p.name: p.default for p in cmd.params if p.name in fields}) == cls()


def test_sweep_overrides_are_prune_fields_with_the_same_default_and_help():
    from edgeprune.study.cells import Cell, SweepOptions, cell_options, prune_options

    swept = sweep_fields(PruneOptions)
    assert {"epochs", "lr", "batch_size", "criterion", "round_to", "lr_schedule", "steps", "distill_alpha",
            "temperature", "scratch", "scratch_budget"} == set(swept)
    sw = {f.name: f for f in dataclasses.fields(SweepOptions)}
    pr = {f.name: f for f in dataclasses.fields(PruneOptions)}
    for name in swept:
        assert sw[name].default == pr[name].default and meta(sw[name])["help"] == meta(pr[name])["help"], name
    o = SweepOptions(epochs=7, lr=3e-3, criterion="l2", steps=2, round_to=8)
    po = prune_options(Cell("filter-50", "filter", 0.5), o, "x")
    assert (po.epochs, po.lr, po.criterion, po.steps, po.round_to, po.ratio) == (7, 3e-3, "l2", 2, 8, 0.5)
    assert prune_options(Cell("weight-50", "weight", 0.5), o, "y").steps == 1  # weight prunes in one schedule
    assert set(swept) <= set(cell_options(o))  # every shared option decides whether a cell is reused


def test_the_readme_layout_names_every_module():
    """Each module of the package is named in the README's layout, under its folder (a new module without its line
    there fails this test)."""
    from conftest import ROOT

    text = (ROOT / "README.md").read_text()
    block = text[text.index("## How the code is laid out"):]
    block = block[block.index("```") + 3:]
    block = block[:block.index("```")]
    missing = []
    for path in sorted((ROOT / "edgeprune").rglob("*.py")):
        rel = path.relative_to(ROOT / "edgeprune")
        if path.name == "__init__.py":
            continue
        if path.name not in block or any(f"{d}/" not in block for d in rel.parts[:-1]):
            missing.append(str(rel))
    assert not missing, f"README's layout does not name {missing}"


def test_booleans_name_both_ways_and_old_records_match_new_options():
    from typer.testing import CliRunner

    from edgeprune.options import same_options
    from edgeprune.study.cells import SweepOptions, cell_options

    prune = COMMANDS["prune"]
    opts = {o for p in prune.params for o in (*p.opts, *p.secondary_opts)}
    assert {"--control", "--no-control", "--force", "--no-force", "--skip-first", "--no-skip-first"} <= opts
    res = CliRunner().invoke(app, ["prune", "--method", "nope", "--no-control", "x"])
    assert "No such option" not in res.output
    # a cell recorded before an option existed (its default then) still matches; another value does not
    now = cell_options(SweepOptions())
    old = {k: v for k, v in now.items() if k not in ("scratch", "scratch_budget")}
    assert same_options(SweepOptions, old, now)
    assert not same_options(SweepOptions, old, cell_options(SweepOptions(scratch=True)))
    assert not same_options(SweepOptions, {**old, "epochs": 3}, now) and not same_options(SweepOptions, None, now)


def test_latency_measure_warmups_are_bounded():
    from edgeprune.device.latency_table import MeasureOptions
    from edgeprune.errors import UserError

    for bad in (dict(warmup=-5), dict(warmup_s=float("inf")), dict(warmup_s=-1.0)):
        with pytest.raises(UserError, match="--warmup"):
            MeasureOptions(**bad).check()
    MeasureOptions().check()
