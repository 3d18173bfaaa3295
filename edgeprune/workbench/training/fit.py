"""One training loop for training, fine-tuning after pruning and the control: AdamW, early stopping on val_loss,
learning rate cut on plateaus, a checkpoint every epoch that ``--resume`` continues from, and progress reports."""
from __future__ import annotations

import io
import json
import os
import signal
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ...errors import UserError
from ...jsonio import atomic_write_bytes, atomic_write_text
from ...paths import safe_join
from ...progress import Reporter, Silent
from ...readers import read_checkpoint
from ...records import CheckpointState, PlateauState
from ..modelio import save_model
from ..tf import keras
from .distillation import Distiller, DistillSettings
from .input_pipeline import AUGMENTATIONS, eval_dataset, train_dataset
from .lr_schedule import CosineWarmup, EpochRates, check_lr_schedule

MAX_SEED = 2**32 - 1


@dataclass
class FitConfig:
    epochs: int = 100
    batch_size: int = 64
    lr: float = 3e-4
    weight_decay: float = 1e-4
    patience: int = 5  # early stopping on val_loss, best weights restored
    lr_patience: int = 3  # ReduceLROnPlateau
    lr_factor: float = 0.5
    min_epochs: int = 0  # early stopping waits this long (pruning schedules must finish first)
    augment: str = "study"
    seed: int = 42
    lr_schedule: str = "plateau"  # lr_schedule.LR_SCHEDULES
    warmup: float = 0.05  # cosine: the fraction of the steps spent warming up
    rates: list[float] | None = None  # rewind: the rate of every epoch (lr_schedule.rewind_rates)
    distill: DistillSettings | None = None  # set: fit() needs a teacher

    def window(self, start: int, epochs: int) -> "FitConfig":
        """This training for ``epochs`` epochs from epoch ``start`` of its schedule: a fit that continues where an
        earlier one (a cut, a stage) left off gets the rewound rates from there, not from the first epoch again."""
        rates = None
        if self.rates:
            rates = self.rates[start:start + epochs] or self.rates[-1:]
        return replace(self, epochs=epochs, rates=rates)

    def check(self) -> None:
        """The user's training options, checked before anything is read or written."""
        check_training_options(self.epochs, self.batch_size, self.lr, self.patience, self.augment, self.seed)
        check_lr_schedule(self.lr_schedule, self.warmup)
        if self.distill:
            self.distill.check()


def check_training_options(epochs: int, batch_size: int, lr: float, patience: int, augment: str | None,
                           seed: int) -> None:
    if epochs < 1:
        raise UserError("--epochs must be at least 1")
    if batch_size < 1 or batch_size > 65536:
        raise UserError(f"--batch-size must be between 1 and 65536, got {batch_size}")
    if not math.isfinite(lr) or not 0 < lr < 1:
        raise UserError(f"--lr must be a number between 0 and 1, got {lr}")
    if patience < 0:
        raise UserError("--patience must be 0 (off) or more")
    if augment is not None and augment not in AUGMENTATIONS:
        raise UserError(f"unknown --augment {augment!r}; choose one of {', '.join(AUGMENTATIONS)}")
    if not 0 <= seed <= MAX_SEED:
        raise UserError(f"--seed must be between 0 and {MAX_SEED}, got {seed}")


KILL_AT_EPOCH = "EDGEPRUNE_TEST_KILL_AT_EPOCH"  # the process kills itself (SIGKILL) after this epoch's checkpoint


@dataclass
class Plateau:
    """Early stopping and learning-rate reduction on val_loss, with a state that survives a restart."""

    patience: int
    lr_patience: int
    lr_factor: float
    min_epochs: int = 0
    best: float = math.inf
    best_epoch: int = -1
    wait: int = 0
    lr_wait: int = 0

    def update(self, epoch: int, val_loss: float) -> tuple[bool, bool, bool]:
        """Returns (improved, reduce_lr, stop)."""
        if epoch < self.min_epochs:
            # during a pruning schedule the model changes under us: do not judge, but remember the latest
            self.best, self.best_epoch, self.wait, self.lr_wait = val_loss, epoch, 0, 0
            return True, False, False
        if val_loss < self.best - 1e-6:
            self.best, self.best_epoch, self.wait, self.lr_wait = val_loss, epoch, 0, 0
            return True, False, False
        self.wait += 1
        self.lr_wait += 1
        reduce = self.lr_patience > 0 and self.lr_wait >= self.lr_patience
        if reduce:
            self.lr_wait = 0
        return False, reduce, self.patience > 0 and self.wait >= self.patience


@dataclass
class FitResult:
    epochs_run: int
    history: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = -1
    stopped_early: bool = False
    seconds: float = 0.0


class _Epochs(keras.callbacks.Callback):
    def __init__(self, cfg: FitConfig, plateau: Plateau, history: dict, ckpt: Path | None, reporter: Reporter,
                 prior_seconds: float = 0.0, net: keras.Model | None = None):
        super().__init__()
        self.cfg, self.plateau, self.history, self.ckpt, self.reporter = cfg, plateau, history, ckpt, reporter
        self.net = net  # the model being trained (the student when distilling); self.model is what fit() runs
        self.prior_seconds, self.t0 = prior_seconds, time.perf_counter()
        self.best_weights = None
        self.best_file: str | None = None
        self.stopped_early = False

    def on_train_batch_end(self, batch, logs=None):
        self.reporter.advance(1)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        logs["lr"] = float(keras.backend.get_value(self.model.optimizer.learning_rate))
        for k, v in logs.items():
            self.history.setdefault(k, []).append(float(v))
        improved, reduce, stop = self.plateau.update(epoch, logs.get("val_loss", math.inf))
        if improved:
            self.best_weights = self.net.get_weights()
            if self.ckpt:
                self.best_file = f"best-{epoch + 1}.npz"
                save_weights(self.best_weights, self.ckpt / self.best_file)
        if reduce:
            self.model.optimizer.learning_rate.assign(logs["lr"] * self.cfg.lr_factor)
        self.reporter.log(
            f"epoch {epoch + 1}: loss {logs.get('loss', 0):.4f} acc {logs.get('accuracy', 0):.4f} "
            f"val_loss {logs.get('val_loss', 0):.4f} val_acc {logs.get('val_accuracy', 0):.4f}"
            + (" (lr cut)" if reduce else "")
        )
        if stop:
            self.stopped_early = True
            self.model.stop_training = True
        if self.ckpt:
            model_file = f"last-{epoch + 1}.keras"
            save_model(self.net, self.ckpt / model_file)
            state = CheckpointState(epoch=epoch + 1, model_file=model_file, plateau=PlateauState(**asdict(self.plateau)),
                                    history=self.history, stopped_early=self.stopped_early,
                                    seconds=self.prior_seconds + time.perf_counter() - self.t0, best_file=self.best_file)
            # state.json is the commit point: written last, atomically, naming the files it belongs to
            atomic_write_text(self.ckpt / "state.json", json.dumps(state.to_dict()))
            for old in [*self.ckpt.glob("best-*.npz"), *self.ckpt.glob("last-*.keras")]:
                if old.name not in (self.best_file, model_file):
                    old.unlink(missing_ok=True)
            if os.environ.get(KILL_AT_EPOCH) == str(epoch + 1):  # the resume test's kill, at a point it chooses
                os.kill(os.getpid(), signal.SIGKILL)


def save_weights(weights: list, path: Path) -> None:
    """Weights as an .npz, written atomically (a kill mid-write must not leave a file that looks valid)."""
    buf = io.BytesIO()
    np.savez(buf, *weights)
    atomic_write_bytes(path, buf.getvalue())


def load_weights(path: Path) -> list:
    from ...data.arrays import load_npz_arrays

    arrays = load_npz_arrays(path)
    try:
        return [arrays[f"arr_{i}"] for i in range(len(arrays))]
    except KeyError:
        raise UserError(f"{path} is not a weights file written by edgeprune; start again with --force") from None


def compile_model(model: keras.Model, lr: float, weight_decay: float) -> None:
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=lr, weight_decay=weight_decay),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def load_checkpoint(ckpt: Path) -> CheckpointState | None:
    """The checkpoint's state.json, checked: its file names must be plain names of files inside ``ckpt``."""
    f = Path(ckpt) / "state.json"
    if not f.is_file():
        return None
    state = read_checkpoint(f)
    for key, name in (("model_file", state.model_file), ("best_file", state.best_file)):
        if name is not None and not safe_join(ckpt, name).is_file():
            raise UserError(f"{f} names {key} {name!r}, which is not a file in {ckpt}; start again with --force")
    return state


def fit(model: keras.Model, data, cfg: FitConfig, *, ckpt: Path | None = None, reporter: Reporter | None = None,
        callbacks: list | None = None, resume_state: CheckpointState | None = None, compile: bool = True,
        teacher: keras.Model | None = None) -> FitResult:
    """Train ``model`` on data['train'], watching data['val']; restores the best weights at the end.

    With ``cfg.distill``, ``teacher`` teaches ``model`` (distillation.Distiller); with ``cfg.lr_schedule`` cosine
    the rate follows the warm-up and decay curve and is never cut on a plateau."""
    reporter = reporter or Silent()
    keras.utils.set_random_seed(cfg.seed)
    train, val = data["train"], data["val"]
    runner = model
    if cfg.distill:
        if teacher is None:
            raise ValueError("distillation needs a teacher model")
        runner = Distiller(model, teacher, cfg.distill)
        compile_model(runner, cfg.lr, cfg.weight_decay)
    elif compile:
        compile_model(model, cfg.lr, cfg.weight_decay)
    steps = max(1, math.ceil(len(train.y) / cfg.batch_size))
    extra = []
    lr_patience = cfg.lr_patience
    if cfg.lr_schedule == "cosine":
        extra.append(CosineWarmup(cfg.lr, steps, cfg.epochs, cfg.warmup))
        lr_patience = 0
    elif cfg.lr_schedule == "rewind":
        if not cfg.rates:
            raise ValueError("rewind needs the rates of its epochs (lr_schedule.rewind_rates)")
        extra.append(EpochRates(cfg.rates))
        lr_patience = 0
    plateau = Plateau(cfg.patience, lr_patience, cfg.lr_factor, cfg.min_epochs)
    history: dict[str, list[float]] = {}
    initial_epoch = 0
    if resume_state:
        p = resume_state.plateau
        plateau = Plateau(p.patience, p.lr_patience, p.lr_factor, p.min_epochs,
                          math.inf if p.best is None else p.best, p.best_epoch, p.wait, p.lr_wait)
        history = resume_state.history
        initial_epoch = resume_state.epoch
    prior = resume_state.seconds if resume_state else 0.0
    cb = _Epochs(cfg, plateau, history, ckpt, reporter, prior, net=model)
    if resume_state and ckpt and resume_state.best_file:
        cb.best_file = resume_state.best_file
        cb.best_weights = load_weights(ckpt / cb.best_file)
        if [w.shape for w in cb.best_weights] != [tuple(w.shape) for w in model.get_weights()]:
            raise UserError(f"{ckpt / cb.best_file} does not hold this model's weights; start again with --force")
    if ckpt:
        ckpt.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    done_already = resume_state is not None and (resume_state.stopped_early or initial_epoch >= cfg.epochs)
    if not done_already:
        reporter.task("training", steps * (cfg.epochs - initial_epoch))
        runner.fit(train_dataset(train.x, train.y, cfg.batch_size, cfg.seed, cfg.augment),
                   validation_data=eval_dataset(val.x, val.y), epochs=cfg.epochs, initial_epoch=initial_epoch,
                   callbacks=[*(callbacks or []), *extra, cb], verbose=0)
        reporter.done()
    if cb.best_weights is not None:
        model.set_weights(cb.best_weights)
    return FitResult(epochs_run=len(history.get("loss", [])), history=history, best_epoch=plateau.best_epoch + 1,
                     stopped_early=cb.stopped_early or bool(resume_state and resume_state.stopped_early),
                     seconds=prior + time.perf_counter() - t0)
