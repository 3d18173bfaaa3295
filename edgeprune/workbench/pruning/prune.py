"""The work of `edgeprune prune`: prune a run with a method's implementation (``impl/``), fine-tune, measure, and
write a new run, with an optional fair control. Callers go through ``edgeprune.pruner``, which checks the options
with the method's descriptor and names the run; this module never imports ``edgeprune.methods``."""
from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

from ...errors import UserError
from ...options import recorded
from ...options.prune import SCRATCH_BUDGETS, PruneOptions
from ...paired_accuracy import compare
from ...progress import Reporter, Silent
from ...readers import read_sensitivity
from ...records import RunRecord
from ...records.pruning import PruningRecord
from ...workspace import Run, check_replaceable_run, resolve_run, run_folder, staging_dir
from ..metrics.macs import count_macs
from ..modelio import load_model
from ..run_files import copy_split, run_data, scores, write_run
from ..training.bn_recalibration import recalibrate_checked
from ..training.distillation import DistillSettings
from ..training.fit import FitConfig, check_training_options, fit
from ..training.lr_schedule import check_lr_schedule, rewind_rates
from . import impl
from .impl import PruneJob
from .sparsity import select_layers


def check_options(o: PruneOptions) -> None:
    """The options every method shares (fine-tuning, distillation, clustering, output), checked before any model is
    loaded; the method's own are checked by its descriptor (``edgeprune.pruner.validate`` does both)."""
    impl.get(o.method)
    check_training_options(o.epochs, o.batch_size, o.lr, o.patience, o.augment, o.seed)
    check_lr_schedule(o.lr_schedule, o.warmup)
    if o.distill:
        distill_settings(o).check()
    if o.teacher is not None and not o.distill:
        raise UserError("--teacher names who teaches with --distill; pass --distill too")
    if o.cluster is not None and not 2 <= o.cluster <= 256:
        raise UserError("--cluster must be between 2 and 256")
    if not math.isfinite(o.max_drop) or not 0 <= o.max_drop <= 1:
        raise UserError(f"--max-drop must be a number from 0 to 1, got {o.max_drop}")
    if o.sensitivity:
        read_sensitivity(o.sensitivity)
    if o.layers is not None and not [n for n in o.layers if n]:
        raise UserError("--layers is empty; name the layers to prune, or leave it out to prune them all")
    if o.scratch_budget not in SCRATCH_BUDGETS:
        raise UserError(f"--scratch-budget must be flops or epochs, got {o.scratch_budget!r}")
    if o.out is not None and not o.out.strip():
        raise UserError("run name '' is not allowed: give --out a name or a folder")


def distill_settings(o: PruneOptions) -> DistillSettings | None:
    return DistillSettings(o.distill_alpha, o.temperature) if o.distill else None


def load_teacher(teacher: Run, run: Run):
    """The teacher's model, which must see the same images and name the same classes as the pruned model."""
    t, p = teacher.info, run.info
    if t.classes != p.classes or t.image_size != p.image_size:
        raise UserError(f"--teacher {teacher.name} was made for {t.image_size} px images of {len(t.classes)} classes "
                        f"{t.classes[:4]}..., the pruned run for {p.image_size} px of {p.classes[:4]}...; "
                        "a teacher must match both")
    if t.split_hash and p.split_hash and t.split_hash != p.split_hash:
        raise UserError(f"--teacher {teacher.name} was trained on another split of the data (its split hash differs): "
                        "it may have seen this run's test images")
    return load_model(teacher.model)


def parent_augment(o: PruneOptions, parent: RunRecord) -> str:
    """--augment, else the parent run's augmentation."""
    saved = parent.options.get("augment")
    return o.augment or (saved if isinstance(saved, str) else "study")


def recorded_options(o: PruneOptions, parent: RunRecord) -> dict:
    """The options as run.json records them: what decides the pruned model (not its name or --force)."""
    return {**recorded(o), "augment": parent_augment(o, parent)}


def prune(run: Run, workspace: Path, o: PruneOptions, name: str, reporter: Reporter | None = None) -> Run:
    """Prune ``run`` into the new run ``name`` (``o.out`` when given); the options were checked by the caller."""
    reporter = reporter or Silent()
    check_options(o)
    final = run_folder(Path(workspace), o.out, name)
    check_replaceable_run(final, o.force)
    t0 = time.perf_counter()
    parent = run.info
    if (o.scratch or o.lr_schedule == "rewind") and parent.kind == "prune":
        raise UserError(f"{run.name} is itself a pruned run: its recorded epochs, MACs and rates are its fine-tuning's, "
                        "not a training's; --scratch and --lr-schedule rewind take a trained parent (prune from "
                        f"{parent.parent.name if parent.parent else 'the trained run'})")
    if o.scratch and not (parent.epochs_run and parent.macs):  # before any work: the budget needs both
        raise UserError(f"--scratch needs the parent's training epochs and MACs, and {run.name}'s run.json has none "
                        "(an imported model); leave out --scratch")
    model = load_model(run.model)
    method = impl.get(o.method)
    budget = None
    if o.target_ms is not None:  # the latency table and the device's feedback, read and checked once
        from .impl.filter import model_budget

        budget = model_budget(model, o, Path(workspace))
    manifest, data = run_data(run, workspace, reporter)
    base = scores(model, data)
    augment = parent_augment(o, parent)
    rewind = None
    if o.lr_schedule == "rewind":  # the parent's own schedule, replayed (its run.json records each epoch's rate)
        rates = [float(r) for r in (parent.history or {}).get("lr") or []]
        if not rates:
            raise UserError(f"--lr-schedule rewind replays the parent's per-epoch learning rates, and {run.name}'s "
                            "run.json records none (an imported model, or one trained before edgeprune recorded "
                            "them); use --lr-schedule plateau or cosine")
        epoch_rates, mode = rewind_rates(rates, o.epochs)
        rewind = {"mode": mode, "parent_epochs": len(rates), "rates": epoch_rates}
    cfg = FitConfig(epochs=o.epochs, batch_size=o.batch_size, lr=o.lr, patience=o.patience, augment=augment, seed=o.seed,
                    lr_schedule=o.lr_schedule, warmup=o.warmup, distill=distill_settings(o),
                    rates=rewind["rates"] if rewind else None)
    info: dict = {"kind": "prune", "method": o.method, "parent": {"name": run.name, "path": str(run.path.resolve()), **base,
                                                               "params": parent.params},
                  "arch": parent.arch, "image_size": parent.image_size, "data": parent.data,
                  "options": recorded_options(o, parent)}
    if rewind:
        info["lr_rewind"] = rewind
        reporter.log(f"learning-rate rewinding: {run.name}'s {rewind['parent_epochs']} epochs of rates "
                     f"{rewind['mode']} into {o.epochs} (from {rewind['rates'][0]:.2g})")
    macs_before = count_macs(model)
    teacher_run = (resolve_run(o.teacher, workspace) if o.teacher else run) if o.distill else None
    teacher = load_teacher(teacher_run, run) if teacher_run else None
    if teacher_run is not None:
        reporter.log(f"distillation: {teacher_run.name} teaches (alpha {o.distill_alpha}, temperature {o.temperature})")
        info["distillation"] = {"teacher": teacher_run.name, "teacher_path": str(teacher_run.path.resolve()),
                                "teacher_test_accuracy": teacher_run.info.test_accuracy,
                                "alpha": o.distill_alpha, "temperature": o.temperature}
    job = PruneJob(data=data, options=o, fit=cfg, reporter=reporter, teacher=teacher, workspace=Path(workspace),
                   budget=budget)
    applied = method.apply(model, job)
    model, pruning = applied.model, applied.pruning
    left = cfg if applied.epochs_left is None else cfg.window(cfg.epochs - applied.epochs_left, applied.epochs_left)
    result = applied.finetuned or fit(model, data, left, reporter=reporter, teacher=teacher)
    rec = recalibrate_checked(model, data["train"].x, data["val"].x, data["val"].y, seed=o.seed)
    if o.cluster:
        from .clustering import cluster_and_finetune

        layers = (pruning.weight.pruned_layers if pruning.weight else None) or select_layers(
            model, o.skip_first, o.skip_last, o.layers)
        n = max(1, o.epochs // 3)
        ccfg = replace(cfg.window(max(0, o.epochs - n), n), distill=None)  # rewind: the schedule's last epochs
        model, clustering = cluster_and_finetune(model, data, layers, o.cluster, ccfg, reporter)
        pruning = pruning.merged(PruningRecord(clustering=clustering))
    pruning = method.finish(model, pruning, job)
    info.update({
        **scores(model, data),
        "pruning": pruning.to_dict(),
        "sparsity": (pruning.weight.sparsity if pruning.weight else None) or 0.0,
        "macs": count_macs(model), "macs_before": macs_before,
        "epochs_run": applied.epochs_before + result.epochs_run, "best_epoch": result.best_epoch, "history": result.history,
        "bn_recalibration": rec.to_dict(),
    })
    if o.control:
        reporter.log("control: fine-tuning the unpruned model with the same epochs, rate, schedule and data "
                     "(plain fine-tuning: no teacher)")
        ctrl = load_model(run.model)
        cres = fit(ctrl, data, replace(cfg, distill=None), reporter=reporter)
        crec = recalibrate_checked(ctrl, data["train"].x, data["val"].x, data["val"].y, seed=o.seed)
        c = scores(ctrl, data)
        info["control"] = {**c, "epochs_run": cres.epochs_run, "best_epoch": cres.best_epoch, "history": cres.history,
                           "bn_recalibration": crec.to_dict()}
        paired = compare(info["test_correct"], c["test_correct"])
        info["vs_control"] = {"val_accuracy": info["val_accuracy"] - c["val_accuracy"],
                              "test_accuracy": info["test_accuracy"] - c["test_accuracy"],
                              "test_paired": paired.to_dict() if paired else None}
    if o.scratch:
        info["scratch"], info["vs_scratch"] = scratch_twin(model, run, data, cfg, o, info, reporter,
                                                           pruning.weight.pruned_layers if pruning.weight else [])
    info["seconds"] = round(time.perf_counter() - t0, 2)
    staging = staging_dir(final.parent, final.name)
    copy_split(run, staging)
    return write_run(staging, final, model, manifest, info, o.force)


TWIN_SCHEDULE = "cosine"  # the scratch twin's rate: the parent's, warmed up and cosine-decayed over its budget


def scratch_twin(model, run: Run, data: dict, cfg: FitConfig, o: PruneOptions, info: dict, reporter,
                 sparse_layers: list[str]) -> tuple[dict, dict]:
    """Train the pruned model's architecture from scratch (scratch.py), score it, and compare it with the pruned
    model on the same test images. A weight-pruned model's twin keeps its zeros in ``sparse_layers`` throughout
    (its sparse structure, from random weights); a filter-pruned one's is its smaller network."""
    from ..tf import keras
    from .scratch import KeepMasks, apply_masks, scratch_budget, sparsity_masks, twin
    from .sparsity import sparsity_report

    parent = run.info
    b = scratch_budget(o.scratch_budget, parent.epochs_run, parent.macs, info["epochs_run"], info["macs"])
    saved = parent.options or {}
    lr = saved.get("lr") if isinstance(saved.get("lr"), float) else cfg.lr
    batch = saved.get("batch_size") if isinstance(saved.get("batch_size"), int) else cfg.batch_size
    reporter.log(f"scratch twin: the pruned architecture from random weights, {b.epochs} epochs ({b.budget} budget: "
                 f"{b.lineage_macs:,} MACs per image spent by the parent's training and the fine-tuning), rate {lr:g} "
                 "cosine-decayed over them, no early stopping")
    keras.utils.set_random_seed(o.seed)  # the twin's random start is --seed's, not what earlier training left
    fresh = twin(model)
    masks = sparsity_masks(model, sparse_layers)
    apply_masks(fresh, masks)
    # cosine over the whole budget (Liu et al. stretch their schedule to it): halving on a stalled val_loss had taken
    # a 179-epoch twin's rate below 1 % of its start from epoch 44, so its later epochs learned nothing and twins of
    # different budgets came out the same (f70's at E=3 and E=30: 65.20 %, its best epoch 132 of 179)
    tcfg = FitConfig(epochs=b.epochs, batch_size=batch, lr=lr, patience=0, augment=cfg.augment, seed=o.seed,
                     lr_schedule=TWIN_SCHEDULE, warmup=cfg.warmup)
    res = fit(fresh, data, tcfg, reporter=reporter, callbacks=[KeepMasks(masks)] if masks else None)
    rec = recalibrate_checked(fresh, data["train"].x, data["val"].x, data["val"].y, seed=o.seed)
    s = scores(fresh, data)
    paired = compare(info["test_correct"], s["test_correct"])
    # best_epoch and history say which epoch's weights were kept (the best val_loss): two twins of different budgets
    # that score alike can be told apart from the record
    scratch = {**s, "epochs_run": res.epochs_run, "best_epoch": res.best_epoch, "history": res.history,
               "epochs_budget": b.epochs, "budget": b.budget, "lr": lr, "lr_schedule": TWIN_SCHEDULE,
               "batch_size": batch, "macs_spent": b.macs_spent, "lineage_macs": b.lineage_macs,
               "sparse_layers": sorted(masks),
               "sparsity": sparsity_report(fresh, list(masks))["sparsity"] if masks else None,
               "bn_recalibration": rec.to_dict()}
    vs = {"val_accuracy": info["val_accuracy"] - s["val_accuracy"],
          "test_accuracy": info["test_accuracy"] - s["test_accuracy"],
          "test_paired": paired.to_dict() if paired else None}
    return scratch, vs
