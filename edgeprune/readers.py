"""One reader per file kind that edgeprune reads back. Each reads the JSON (guarded: size of nesting, encoding) and
turns it into its typed record (``records``), so a file of the wrong shape is a one-line UserError. No TensorFlow
here: report and bench use these too."""
from __future__ import annotations

import json
from pathlib import Path

from .errors import UserError
from .jsonio import read_json
from .records import (
    BenchFile,
    CheckpointState,
    ExportRecord,
    LatencyTable,
    ModelCard,
    OptimizeRecord,
    ProbeManifest,
    RunRecord,
    SensitivityRecord,
    SweepCell,
)


def read_run(path: str | Path) -> RunRecord:
    return RunRecord.from_dict(read_json(path, what="run.json"), str(path))


def read_probe(folder: str | Path) -> ProbeManifest:
    """A probe bundle's manifest.json (`edgeprune latency probe`)."""
    probe = ProbeManifest.from_dict(read_json(Path(folder) / "manifest.json", what="latency probe manifest"),
                                    str(Path(folder) / "manifest.json"))
    check_segments(probe, str(Path(folder) / "manifest.json"))
    return probe


def read_latency_table(path: str | Path) -> LatencyTable:
    """A latency table (`edgeprune latency measure --json`), its segments and grids checked to make one model."""
    table = LatencyTable.from_dict(read_json(path, what="latency table"), str(path))
    check_segments(table.probe, str(path))
    return table


def check_segments(probe: ProbeManifest, where: str) -> None:
    """The chain of a probe is something a latency model can be built on: at least one segment, each named once,
    each grid ascending and not empty (``Segment.check``), bounded in size, and the widths it names the model's."""
    widths = probe.model.widths
    if not probe.segments:
        raise UserError(f"{where}: the probe has no segments; probe the run again")
    if len(probe.segments) > 4096:
        raise UserError(f"{where}: the probe has {len(probe.segments)} segments, more than any model edgeprune probes")
    if not widths or any(not 1 <= w <= 1 << 20 for w in widths.values()):
        raise UserError(f"{where}: the probe's model widths must be 1 to {1 << 20} channels each")
    names = set()
    for s in probe.segments:
        if s.name in names:
            raise UserError(f"{where}: segment {s.name!r} appears twice")
        names.add(s.name)
        if not s.cins or not s.couts or s.cins != sorted(set(s.cins)) or s.couts != sorted(set(s.couts)):
            raise UserError(f"{where}: segment {s.name!r} has an empty or unsorted grid")
        if len(s.cins) * len(s.couts) > 4096:
            raise UserError(f"{where}: segment {s.name!r} has a grid of {len(s.cins) * len(s.couts)} points")
        for role, layer, full in (("producer", s.producer, s.cout_full), ("cin_from", s.cin_from, s.cin_full)):
            if layer is not None and widths.get(layer) != full:
                raise UserError(f"{where}: segment {s.name!r} names {role} {layer!r} of width {full}, which is not a "
                                "prunable layer of the probed model at that width")


def read_sensitivity(path: str | Path) -> SensitivityRecord:
    """A file written by `edgeprune sensitivity`: one accuracy and one drop per ratio and layer."""
    if not Path(path).is_file():
        raise UserError(f"sensitivity file not found: {path}")
    return SensitivityRecord.from_dict(read_json(path, what="sensitivity file"), str(path))


def read_bench_file(path: str | Path) -> BenchFile:
    return BenchFile.from_dict(read_json(path, what="bench results file"), str(path))


def read_checkpoint(path: str | Path) -> CheckpointState:
    return CheckpointState.from_dict(read_json(path, what="checkpoint state"), str(path))


def read_export(folder: str | Path) -> tuple[ExportRecord, ModelCard]:
    """A bundle's export.json and its model card (an empty one when model.json is absent)."""
    folder = Path(folder)
    exp = ExportRecord.from_dict(read_json(folder / "export.json", what="export.json"), str(folder / "export.json"))
    card = ModelCard()
    if (folder / "model.json").is_file():
        card = ModelCard.from_dict(read_json(folder / "model.json", what="model.json"), str(folder / "model.json"))
    return exp, card


def read_optimize(path: str | Path) -> OptimizeRecord:
    """An `edgeprune optimize` result (optimize.json)."""
    return OptimizeRecord.from_dict(read_json(path, what="optimize result"), str(path))


def read_sweep_cells(path: str | Path) -> tuple[dict[str, SweepCell], list[str]]:
    """The cells of a sweep's results.jsonl, the last record of each cell counting, and a warning per line that was
    passed over (cut by a kill, or of the wrong shape)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"sweep results not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} cannot be read as text ({exc.__class__.__name__})") from None
    cells: dict[str, SweepCell] = {}
    skipped: list[str] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            cell = SweepCell.from_dict(json.loads(line), f"{path} line {n}")
        except (ValueError, RecursionError) as exc:
            skipped.append(f"{path} line {n}: not JSON ({exc.__class__.__name__}); passed over")
            continue
        except UserError as exc:
            skipped.append(f"{exc}; passed over")
            continue
        cells[cell.cell] = cell
    if not cells and not skipped:
        raise UserError(f"{path} holds no sweep cells")
    return cells, skipped
