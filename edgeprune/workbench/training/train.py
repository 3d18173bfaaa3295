"""`edgeprune train`: build the study's CNN (or a transfer baseline), train it on a folder of class folders, write a run."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from ...data.arrays import load_split_arrays, prepare
from ...data.demo import make_demo
from ...data.manifest import Manifest
from ...errors import UserError
from ...jsonio import read_json, write_json
from ...progress import Reporter, Silent
from ...options.train import TrainOptions
from ...workspace import (
    SPLIT_FILE,
    Run,
    check_name,
    check_replaceable_run,
    new_name,
    run_folder,
    staging_dir,
)
from ..metrics.macs import count_macs
from ..modelio import load_model
from ..run_files import scores, write_run
from ..tf import keras
from .bn_recalibration import recalibrate_checked
from .fit import FitConfig, fit, load_checkpoint
from .models import ARCHS, build, check_cnn_shape

OPTIONS_FILE = "train_options.json"


def resolve_data(source: str, workspace: Path) -> Path:
    if source == "demo":
        return make_demo(workspace / ".demo")
    return Path(source)


def fit_config(o: TrainOptions) -> FitConfig:
    return FitConfig(epochs=o.epochs, batch_size=o.batch_size, lr=o.lr, patience=o.patience, lr_patience=o.lr_patience,
                     augment=o.augment, seed=o.seed)


def _validate(o: TrainOptions) -> None:
    """Every option, checked before anything is read or written (a bad option never leaves a staging folder)."""
    if o.image_size < 8 or o.image_size > 1024:
        raise UserError("--image-size must be between 8 and 1024")
    if o.limit_per_class is not None and o.limit_per_class < 3:
        raise UserError("--limit-per-class must be at least 3")
    if o.arch not in ARCHS:
        raise UserError(f"unknown --arch {o.arch!r}; choose one of {', '.join(ARCHS)}")
    if o.weights not in ("none", "imagenet"):
        raise UserError(f"--weights must be 'imagenet' or 'none', got {o.weights!r}")
    if o.arch == "cnn":
        check_cnn_shape(o.widths, o.dense, o.image_size)
    if o.lr_patience < 0:
        raise UserError("lr_patience must be 0 (off) or more")
    fit_config(o).check()
    if o.out is not None:
        run_folder(Path(o.workspace), o.out, "x")


def _saved_options(staging: Path, workspace: Path, force: bool) -> TrainOptions:
    """The options an interrupted run was started with, read back as untrusted input and checked again."""
    f = staging / OPTIONS_FILE
    opts = TrainOptions.from_dict(read_json(f, what="training options"), str(f))
    if opts.extra:
        raise UserError(f"{f} has unknown keys {sorted(opts.extra)}; start again with --force")
    opts.workspace, opts.force, opts.out = str(workspace), force, None
    try:
        _validate(opts)
    except UserError as exc:
        raise UserError(f"{f}: {exc}; start again with --force") from None
    return opts


def _find_resumable(workspace: Path, out: str | None) -> Path:
    if out is not None:
        final = run_folder(workspace, out, "x")
        st = staging_dir(final.parent, final.name)
        if not (st / OPTIONS_FILE).is_file():
            raise UserError(f"no interrupted training run named {out!r} in {workspace}/ to resume")
        return st
    parts = sorted((p for p in workspace.glob(".*.partial") if (p / OPTIONS_FILE).is_file()),
                   key=lambda p: p.stat().st_mtime) if workspace.is_dir() else []
    if not parts:
        raise UserError(f"no interrupted training run in {workspace}/ to resume; start one with `edgeprune train`")
    return parts[-1]


def train(opts: TrainOptions, *, resume: bool = False, reporter: Reporter | None = None) -> Run:
    reporter = reporter or Silent()
    workspace = Path(opts.workspace)
    if resume:
        staging = _find_resumable(workspace, opts.out)
        if staging.is_symlink() or not staging.is_dir():
            raise UserError(f"{staging} is not a folder edgeprune made; remove it by hand")
        name = check_name(staging.name[1:-len(".partial")])
        final = staging.parent / name
        opts = _saved_options(staging, workspace, opts.force)
        check_replaceable_run(final, opts.force)
    else:
        _validate(opts)
        final = run_folder(workspace, opts.out, new_name(opts.arch, workspace))
        name = final.name
        staging = staging_dir(final.parent, name)
        check_replaceable_run(final, opts.force)
        if staging.is_symlink() or (staging.exists() and not staging.is_dir()):
            raise UserError(f"{staging} is not a folder edgeprune made; remove it by hand or choose another --out")
        if staging.exists():
            if not opts.force:
                raise UserError(f"an interrupted run {name!r} exists; pass --resume to continue it or --force to start over")
            shutil.rmtree(staging)
    t0 = time.perf_counter()
    ckpt = staging / "ckpt"
    state = load_checkpoint(ckpt) if resume else None
    if resume and state is None and not (staging / SPLIT_FILE).is_file():
        raise UserError(f"{staging} holds no checkpoint yet; start again with --force")
    if resume and (staging / SPLIT_FILE).is_file():
        manifest = Manifest.load(staging / SPLIT_FILE)
        data = load_split_arrays(manifest, opts.image_size, reporter=reporter)
    else:
        manifest, data = prepare(resolve_data(opts.data, workspace), opts.image_size, opts.seed,
                                 limit_per_class=opts.limit_per_class, reporter=reporter)
        if opts.data == "demo":
            manifest.source = "demo"
        staging.mkdir(parents=True, exist_ok=True)
        write_json(staging / OPTIONS_FILE, opts.to_dict())
        manifest.save(staging / SPLIT_FILE)
    if manifest.skipped:
        reporter.log(f"skipped {len(manifest.skipped)} file(s) that could not be used (see split.json 'skipped')")
    cfg = fit_config(opts)
    if state is not None:
        model = load_model(ckpt / state.model_file, compile=True)
        result = fit(model, data, cfg, ckpt=ckpt, reporter=reporter, resume_state=state, compile=False)
    else:
        keras.utils.set_random_seed(opts.seed)  # the initial weights are --seed's too, not whatever ran before
        model = build(opts.arch, len(manifest.classes), opts.image_size, opts.widths, opts.dense, opts.weights)
        result = fit(model, data, cfg, ckpt=ckpt, reporter=reporter)
    reporter.log("re-estimating BatchNorm statistics")
    rec = recalibrate_checked(model, data["train"].x, data["val"].x, data["val"].y, seed=opts.seed)
    info = {
        "kind": "train",
        "arch": opts.arch,
        "image_size": opts.image_size,
        "widths": opts.widths if opts.arch == "cnn" else None,
        "dense": opts.dense if opts.arch == "cnn" else None,
        "data": {"source": manifest.source, "root": str(manifest.root), "counts": manifest.counts(),
                 "skipped": len(manifest.skipped)},
        **scores(model, data),
        "macs": count_macs(model),
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "history": result.history,
        "seconds": round(time.perf_counter() - t0 + (state.seconds if state else 0.0), 2),
        "bn_recalibration": rec.to_dict(),
        "options": {k: v for k, v in opts.to_dict().items() if k not in ("workspace", "force", "out")},
        "resumed": resume,
    }
    return write_run(staging, final, model, manifest, info, opts.force)
