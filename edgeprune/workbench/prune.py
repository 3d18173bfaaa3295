"""`edgeprune prune`: weight, filter or hybrid pruning of a run, fine-tuned, measured, with an optional fair control."""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import UserError
from ..progress import Reporter, Silent
from ..readers import read_sensitivity
from ..runs import Run, check_name, check_replaceable_run, staging_dir
from .bn_recalibration import recalibrate_checked
from .filter_pruning import FilterPlan, apply as apply_filters
from .fit import FitConfig, check_training_options, fit
from .macs import count_macs
from .modelio import load_model
from .runio import copy_split, run_data, scores, write_run
from .schedule import check_options as check_schedule, plan_schedule
from .sensitivity import choose_ratios
from .sparsity import select_layers, sparsity_report
from .weight_pruning import prune_and_finetune

METHODS = ("weight", "filter", "hybrid", "none")  # none: fine-tune only (a control run)
SPARSITY_TOLERANCE = 0.01


@dataclass
class PruneOptions:
    method: str = "weight"
    sparsity: float | None = None  # weight / hybrid
    initial_sparsity: float = 0.3
    schedule: str = "polynomial"
    ratio: float | None = None  # filter / hybrid
    criterion: str = "l1"
    scope: str = "uniform"
    round_to: int = 1
    sensitivity: str | None = None
    max_drop: float = 0.02
    skip_first: bool = False
    skip_last: bool = False
    layers: list[str] | None = None
    epochs: int = 30
    lr: float = 1e-4
    batch_size: int = 64
    patience: int = 5
    augment: str | None = None  # default: the parent run's
    control: bool = False
    cluster: int | None = None
    seed: int = 42
    out: str | None = None
    force: bool = False


def validate(o: PruneOptions) -> None:
    if o.method not in METHODS:
        raise UserError(f"--method must be one of {', '.join(METHODS)}, got {o.method!r}")
    if o.method in ("weight", "hybrid"):
        if o.sparsity is None:
            raise UserError(f"--method {o.method} needs --sparsity, e.g. --sparsity 0.7")
        check_schedule(o.sparsity, o.initial_sparsity, o.schedule, o.epochs)
    if o.method in ("filter", "hybrid"):
        if o.ratio is None and not o.sensitivity:
            raise UserError(f"--method {o.method} needs --ratio (e.g. --ratio 0.3) or --sensitivity FILE")
        filter_plan(o, {}).check()
    check_training_options(o.epochs, o.batch_size, o.lr, o.patience, o.augment, o.seed)
    if o.cluster is not None and not 2 <= o.cluster <= 256:
        raise UserError("--cluster must be between 2 and 256")
    if not math.isfinite(o.max_drop) or not 0 <= o.max_drop <= 1:
        raise UserError(f"--max-drop must be a number from 0 to 1, got {o.max_drop}")
    if o.sensitivity:
        read_sensitivity(o.sensitivity)
    if o.layers is not None and not [n for n in o.layers if n]:
        raise UserError("--layers is empty; name the layers to prune, or leave it out to prune them all")
    if o.out is not None:
        check_name(o.out)


def filter_plan(o: PruneOptions, per_layer: dict[str, float]) -> FilterPlan:
    return FilterPlan(criterion=o.criterion, scope=o.scope, ratio=o.ratio or 0.0, round_to=o.round_to,
                      per_layer=per_layer, seed=o.seed)


def default_name(run: Run, o: PruneOptions) -> str:
    parts = [run.name]
    if o.method == "none":
        parts.append(f"ft{o.epochs}")
    if o.method in ("filter", "hybrid"):
        parts.append(f"f{round(100 * o.ratio):02d}" if o.ratio is not None else "fsens")
    if o.method in ("weight", "hybrid"):
        parts.append(f"w{round(100 * o.sparsity):02d}")
    if o.cluster:
        parts.append(f"c{o.cluster}")
    return "-".join(parts)


def parent_augment(o: PruneOptions, parent: dict) -> str:
    """--augment, else the parent run's augmentation."""
    saved = (parent.get("options") or {}).get("augment")
    return o.augment or (saved if isinstance(saved, str) else "study")


def recorded_options(o: PruneOptions, parent: dict) -> dict:
    """The options as run.json records them: what decides the pruned model (not its name or --force)."""
    return {**{k: v for k, v in asdict(o).items() if k not in ("out", "force")}, "augment": parent_augment(o, parent)}


def prune(run: Run, workspace: Path, o: PruneOptions, reporter: Reporter | None = None) -> Run:
    reporter = reporter or Silent()
    validate(o)
    name = check_name(o.out if o.out is not None else default_name(run, o))
    final = Path(workspace) / name
    check_replaceable_run(final, o.force)
    t0 = time.perf_counter()
    parent = run.info
    model = load_model(run.model)
    manifest, data = run_data(run, workspace, reporter)
    base = scores(model, data)
    augment = parent_augment(o, parent)
    cfg = FitConfig(epochs=o.epochs, batch_size=o.batch_size, lr=o.lr, patience=o.patience, augment=augment, seed=o.seed)
    info: dict = {"kind": "prune", "method": o.method, "parent": {"name": run.name, "path": str(run.path.resolve()), **base,
                                                               "params": parent.get("params")},
                  "arch": parent.get("arch"), "image_size": parent["image_size"], "data": parent.get("data"),
                  "options": recorded_options(o, parent)}
    pruning: dict = {}
    macs_before = count_macs(model)

    if o.method in ("filter", "hybrid"):
        per_layer = {}
        if o.sensitivity:
            per_layer = choose_ratios(read_sensitivity(o.sensitivity), model, o.max_drop)
        res = apply_filters(model, filter_plan(o, per_layer))
        if res.summary["params_after"] >= res.summary["params_before"]:
            raise UserError("these options remove no filter (every layer keeps its full width: the ratio is too small "
                            "for --round-to, or --max-drop lets no layer be pruned); nothing was written")
        model = res.model
        rec = recalibrate_checked(model, data["train"].x, data["val"].x, data["val"].y, seed=o.seed)
        res.summary["after_surgery"] = {"val_accuracy_before_bn": rec.val_before, "val_accuracy": rec.val_after}
        pruning["filter"] = res.summary
        reporter.log(f"filters removed: params {res.summary['params_before']:,} -> {res.summary['params_after']:,}, "
                     f"MACs x{res.summary['macs_ratio']:.2f}; val {rec.val_before:.3f} -> {rec.val_after:.3f} after BN re-estimation")

    if o.method in ("weight", "hybrid"):
        chosen = select_layers(model, o.skip_first, o.skip_last, o.layers)
        plan = plan_schedule(len(data["train"].y), o.batch_size, o.epochs, o.sparsity, o.initial_sparsity, o.schedule)
        reporter.log(f"pruning {len(chosen)} layers to {o.sparsity:.0%}: {plan.kind} schedule, steps {plan.begin_step}-{plan.end_step}, "
                     f"every {plan.frequency} steps ({plan.steps_per_epoch} per epoch)")
        model, result = prune_and_finetune(model, data, chosen, plan, cfg, reporter)
        wp = {"method": "weight", "target_sparsity": o.sparsity, "schedule": plan.to_dict(), "pruned_layers": chosen}
    else:
        result = fit(model, data, cfg, reporter=reporter)
        wp = None

    rec = recalibrate_checked(model, data["train"].x, data["val"].x, data["val"].y, seed=o.seed)
    if o.cluster:
        from .clustering import cluster_and_finetune

        layers = wp["pruned_layers"] if wp else select_layers(model, o.skip_first, o.skip_last, o.layers)
        ccfg = FitConfig(**{**cfg.__dict__, "epochs": max(1, o.epochs // 3)})
        model, pruning["clustering"] = cluster_and_finetune(model, data, layers, o.cluster, ccfg, reporter)

    if wp:
        measured = sparsity_report(model, wp["pruned_layers"])
        wp.update(measured)
        pruning["weight"] = wp
        if measured["sparsity"] < o.sparsity - SPARSITY_TOLERANCE:
            raise UserError(f"measured sparsity {measured['sparsity']:.3f} is below the target {o.sparsity} "
                            f"(more than {SPARSITY_TOLERANCE} short); nothing was written. Try more --epochs")
    info.update({
        **scores(model, data),
        "pruning": pruning,
        "sparsity": wp["sparsity"] if wp else 0.0,
        "macs": count_macs(model), "macs_before": macs_before,
        "epochs_run": result.epochs_run, "best_epoch": result.best_epoch, "history": result.history,
        "bn_recalibration": rec.to_dict(),
    })
    if o.control:
        reporter.log("control: fine-tuning the unpruned model with the same epochs, rate and data")
        ctrl = load_model(run.model)
        cres = fit(ctrl, data, cfg, reporter=reporter)
        crec = recalibrate_checked(ctrl, data["train"].x, data["val"].x, data["val"].y, seed=o.seed)
        c = scores(ctrl, data)
        info["control"] = {**c, "epochs_run": cres.epochs_run, "bn_recalibration": crec.to_dict()}
        info["vs_control"] = {"val_accuracy": info["val_accuracy"] - c["val_accuracy"],
                              "test_accuracy": info["test_accuracy"] - c["test_accuracy"]}
    info["seconds"] = round(time.perf_counter() - t0, 2)
    staging = staging_dir(Path(workspace), name)
    copy_split(run, staging)
    return write_run(staging, final, model, manifest, info, o.force)
