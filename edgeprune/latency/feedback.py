"""Measured models as feedback for a latency budget: one round trip to the device corrects the table near the
widths that matter (NetAdapt checks its choices on the device; this is the offline form of that loop).

`prune --target-ms X --latency-table T --latency-feedback BENCH.json`: BENCH.json is `edgeprune bench` run on the
device over bundles exported (into the workspace's exports/) from earlier pruned runs of the same model (a first
try at this target, say). Each measured file whose widths are known (from its bundle's model card) gives measured / predicted; the point measured
closest to X gives the factor k, and the widths are chosen for a table prediction of X / k. A greedy search picks
the widths where its table runs low, so its prediction of its own choice is biased; the factor measured near the
target removes that bias where it matters.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from .model import LatencyModel


# measured / predicted beyond this (either way) is no correction of the table but another model or device
MAX_FACTOR = 10.0


@dataclass
class FeedbackPoint:
    bundle: str
    widths: dict[str, int]
    measured_ms: float
    predicted_ms: float  # by the table, before any correction

    @property
    def factor(self) -> float:
        return self.measured_ms / self.predicted_ms

    def to_dict(self) -> dict:
        return {"bundle": self.bundle, "measured_ms": self.measured_ms, "predicted_ms": self.predicted_ms,
                "factor": self.factor}


def _bundle_folder(name: str, workspace: Path | None) -> Path | None:
    """The bundle a bench row measured: the workspace's exports/<bundle>, the bundle being the folder part of the
    row's name (`<bundle>/<file>`). The bench file is untrusted: its paths are never followed, and a name that is not
    a plain folder name is never joined to one."""
    from ..workspace import OUTPUT_DIRS, check_name

    if workspace is None:
        return None
    try:
        bundle = check_name(Path(name).parent.name)
    except UserError:
        return None
    cand = Path(workspace) / OUTPUT_DIRS["export bundle"] / bundle
    return cand if (cand / "export.json").is_file() else None


def widths_of(card, lat: LatencyModel) -> dict[str, int] | None:
    """A bundle's per-layer widths from its model card: a latency-budget or filter-pruned run's kept filters, or the
    table's own model unpruned; None when they cannot be known."""
    src = card.source_run
    if src is None:
        return None
    filt = src.pruning.filter if src.pruning else None
    if filt and (filt.latency_budget or {}).get("widths"):
        widths = filt.latency_budget["widths"]
        if not isinstance(widths, dict):
            return None  # the card's own record, not widths
        widths = dict(widths)
    elif filt and filt.layers:
        widths = filt.widths()
    elif src.method in (None, "none") and src.name == lat.table.probe.model.run:
        widths = dict(lat.widths)
    else:
        return None
    full = lat.widths
    if set(widths) != set(full) or any(not isinstance(w, int) or isinstance(w, bool) or not 1 <= w <= full[n]
                                       for n, w in widths.items()):
        return None  # another model's layers
    return {n: int(w) for n, w in widths.items()}


def feedback_points(paths: list[str], lat: LatencyModel, fmt: str, workspace: Path | None) -> tuple[list[FeedbackPoint], list[str]]:
    """The measured points the bench files give for this table and format, and a note per row passed over."""
    from ..device.sysinfo import device_mismatch
    from ..readers import read_bench_file, read_export

    table = lat.table
    points, notes = [], []
    for path in paths:
        bench = read_bench_file(path)
        for r in bench.results:
            if r.error or not r.p50 or r.self_check or r.format != fmt:
                continue
            if r.threads != table.threads:
                raise UserError(f"{path}: {r.label} was measured at {r.threads} thread(s), the latency table at "
                                f"{table.threads}; bench again with --threads {table.threads}")
            diff = device_mismatch(r.device, table.device, ("the bench", "the latency table"))
            if diff:
                raise UserError(f"{path}: {r.label} was measured on another device than the latency table ({diff}); "
                                "feedback must come from the table's device")
            folder = _bundle_folder(r.name, workspace)
            if folder is None:
                notes.append(f"{r.label}: its bundle is not in the workspace's exports/")
                continue
            _, card = read_export(folder)
            widths = widths_of(card, lat)
            if widths is None:
                notes.append(f"{r.label}: not a pruned model of the table's model, or its widths are not recorded")
                continue
            point = FeedbackPoint(folder.name, widths, float(r.p50), lat.predict(widths))
            if not 1 / MAX_FACTOR <= point.factor <= MAX_FACTOR:  # a target / k the user never asked for would follow
                notes.append(f"{r.label}: measured {point.measured_ms:.4g} ms where the table predicts "
                             f"{point.predicted_ms:.4g} ms, {point.factor:.3g}x: not this table's model and device")
                continue
            points.append(point)
    if not points:
        raise UserError("--latency-feedback: no measured file of this model in " + ", ".join(map(str, paths)) +
                        (f" ({notes[0]})" if notes else f" (no {fmt} row at {table.threads} thread(s))") +
                        "; bench bundles exported from pruned runs of this model on the table's device")
    return points, notes


def nearest(points: list[FeedbackPoint], target_ms: float) -> FeedbackPoint:
    """The point measured closest to the target (on a log scale): its factor is the one that holds there."""
    return min(points, key=lambda p: abs(math.log(p.measured_ms / target_ms)))
