"""Per-group sensitivity: prune one group of the channel graph at a time (named by its first producer, as a
single chain's layer was) at ratios 0.1-0.9 (no fine-tuning) and score validation."""
from __future__ import annotations

import numpy as np

from ...errors import UserError
from ...progress import Reporter, Silent
from ...records import SensitivityRecord
from ..graph import groups
from ..graph import widths as layer_widths
from ..metrics.evaluate import accuracy
from ..training.bn_recalibration import recalibrate
from .filters.plan import FilterPlan, apply, channel_scores

DEFAULT_RATIOS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def analyse(model, data, criterion: str = "l1", ratios=DEFAULT_RATIOS, reporter: Reporter | None = None,
            recal_images: int = 1024, seed: int = 42) -> dict:
    reporter = reporter or Silent()
    val = data["val"]
    base = accuracy(model, val.x, val.y)
    names = [g.producer for g in groups(model)]
    widths = layer_widths(model, names)
    images = (data["train"].x, data["train"].y) if criterion == "taylor" else None
    scores = channel_scores(model, criterion, seed, images)  # once: each cut below ranks channels the same way
    out = {"kind": "edgeprune-sensitivity", "version": 1, "criterion": criterion, "baseline_val_accuracy": base,
           "ratios": list(ratios), "widths": widths, "layers": {}}
    reporter.task("sensitivity", len(names) * len(ratios))
    for name in names:
        accs = []
        for r in ratios:
            res = apply(model, FilterPlan(criterion=criterion, ratio=0.0, per_layer={name: r}, seed=seed, scores=scores))
            recalibrate(res.model, data["train"].x, max_images=recal_images, seed=seed)
            accs.append(accuracy(res.model, val.x, val.y))
            reporter.advance(1)
        out["layers"][name] = {"val_accuracy": accs, "drop": [base - a for a in accs]}
    reporter.done()
    return out


def choose_ratios(sens: SensitivityRecord, model, max_drop: float) -> dict[str, float]:
    """Per layer, the largest ratio whose accuracy drop (before fine-tuning) is at most max_drop."""
    widths = layer_widths(model)
    if sens.widths != widths:
        raise UserError("the sensitivity file was made for another model (its layers or widths differ); run `edgeprune sensitivity` on this run")
    ratios = sens.ratios
    out = {}
    for name, row in sens.layers.items():
        drops = np.asarray(row.drop, dtype=float)
        ok = [r for r, d in zip(ratios, drops) if d <= max_drop]
        out[name] = float(max(ok)) if ok else 0.0
    return out


def run_sensitivity(run, workspace, criterion: str, ratios, out, force: bool, reporter: Reporter | None = None) -> tuple[dict, list]:
    """Analyse a run and write the JSON (and a CSV beside it); refuses to replace files without force."""
    from pathlib import Path

    from ...jsonio import atomic_write_text, check_writable, to_jsonable, write_json
    from ..modelio import load_model
    from ..run_files import run_data

    if not ratios or any(not 0 < r < 1 for r in ratios):
        raise UserError("--ratios must be numbers between 0 and 1")
    target = Path(out) if out is not None else run.path / "sensitivity.json"
    if target.suffix != ".json":
        raise UserError(f"--out {target} must name a .json file (the CSV is written beside it)")
    check_writable(target, force)
    check_writable(target.with_suffix(".csv"), force)
    model = load_model(run.model)
    _, data = run_data(run, workspace, reporter)
    res = analyse(model, data, criterion, ratios, reporter)
    res["run"] = run.name
    write_json(target, SensitivityRecord.from_dict(to_jsonable(res), str(target)).to_dict())
    rows = ["layer," + ",".join(str(r) for r in ratios)]
    rows += [f"{n}," + ",".join(f"{a:.4f}" for a in row["val_accuracy"]) for n, row in res["layers"].items()]
    atomic_write_text(target.with_suffix(".csv"), "\n".join(rows) + "\n")
    return res, [target, target.with_suffix(".csv")]
