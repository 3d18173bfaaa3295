"""`edgeprune train`: build the study's CNN (or a transfer baseline), train it on a folder of class folders, write a run."""
from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..data.arrays import load_split_arrays, prepare
from ..data.demo import make_demo
from ..data.manifest import Manifest
from ..errors import UserError
from ..jsonio import read_json, write_json
from ..progress import Reporter, Silent
from ..runs import SPLIT_FILE, Run, check_name, new_name, staging_dir
from .bn_recalibration import recalibrate_checked
from .fit import FitConfig, fit, load_checkpoint
from .macs import count_macs
from .modelio import load_model
from .models import STUDY_DENSE, STUDY_WIDTHS, build
from .runio import cache_dir, scores, write_run

OPTIONS_FILE = "train_options.json"


@dataclass
class TrainOptions:
    data: str = "demo"
    image_size: int = 100
    arch: str = "cnn"
    widths: list[int] = field(default_factory=lambda: list(STUDY_WIDTHS))
    dense: int = STUDY_DENSE
    weights: str = "none"
    epochs: int = 100
    batch_size: int = 64
    lr: float = 3e-4
    patience: int = 5
    lr_patience: int = 3
    augment: str = "study"
    seed: int = 42
    limit_per_class: int | None = None
    workspace: str = "runs"
    out: str | None = None
    force: bool = False


def resolve_data(source: str, workspace: Path) -> Path:
    if source == "demo":
        return make_demo(workspace / ".demo")
    return Path(source)


def _validate(o: TrainOptions) -> None:
    if o.epochs < 1:
        raise UserError("--epochs must be at least 1")
    if o.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    if not 0 < o.lr < 1:
        raise UserError("--lr must be between 0 and 1")
    if o.image_size < 8 or o.image_size > 1024:
        raise UserError("--image-size must be between 8 and 1024")
    if o.limit_per_class is not None and o.limit_per_class < 3:
        raise UserError("--limit-per-class must be at least 3")


def _find_resumable(workspace: Path, out: str | None) -> Path:
    if out:
        st = staging_dir(workspace, out)
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
        saved = read_json(staging / OPTIONS_FILE, what="training options")
        force = opts.force
        opts = TrainOptions(**saved)
        opts.force = force
        name = staging.name[1:-len(".partial")]
    else:
        _validate(opts)
        name = check_name(opts.out) if opts.out else new_name(opts.arch, workspace)
        staging = staging_dir(workspace, name)
        if (workspace / name).exists() and not opts.force:
            raise UserError(f"{workspace / name} already exists; pass --force to replace it or choose another --out")
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
        data = load_split_arrays(manifest, opts.image_size, cache_dir(workspace), reporter)
    else:
        manifest, data = prepare(resolve_data(opts.data, workspace), opts.image_size, opts.seed, cache_dir(workspace),
                                 limit_per_class=opts.limit_per_class, reporter=reporter)
        if opts.data == "demo":
            manifest.source = "demo"
        staging.mkdir(parents=True, exist_ok=True)
        write_json(staging / OPTIONS_FILE, asdict(opts))
        manifest.save(staging / SPLIT_FILE)
    if manifest.skipped:
        reporter.log(f"skipped {len(manifest.skipped)} file(s) that could not be used (see split.json 'skipped')")
    cfg = FitConfig(epochs=opts.epochs, batch_size=opts.batch_size, lr=opts.lr, patience=opts.patience,
                    lr_patience=opts.lr_patience, augment=opts.augment, seed=opts.seed)
    if state is not None:
        model = load_model(ckpt / state["model_file"], compile=True)
        result = fit(model, data, cfg, ckpt=ckpt, reporter=reporter, resume_state=state, compile=False)
    else:
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
        "seconds": round(time.perf_counter() - t0 + float((state or {}).get("seconds", 0.0)), 2),
        "bn_recalibration": rec.to_dict(),
        "options": {k: v for k, v in asdict(opts).items() if k not in ("workspace", "force", "out")},
        "resumed": resume,
    }
    return write_run(staging, workspace / name, model, manifest, info, opts.force)
