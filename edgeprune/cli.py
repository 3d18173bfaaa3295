"""edgeprune's command line: parses options, calls the modules that do the work, prints their results.

Imports of the workbench (TensorFlow) happen inside the commands that need them, so `edgeprune --help` and
`edgeprune bench` never load TensorFlow.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from .errors import UserError
from .runs import DEFAULT_WORKSPACE

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Train, prune, export and benchmark compact image classifiers for small devices.")
data_app = typer.Typer(no_args_is_help=True, help="Look at datasets (folders of class folders).")
app.add_typer(data_app, name="data")

WorkspaceOpt = typer.Option(DEFAULT_WORKSPACE, "--workspace", "-w", help="Folder that holds the runs.")


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{what} must be comma-separated integers, got {text!r}") from None


def _floats(text: str, what: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{what} must be comma-separated numbers, got {text!r}") from None


@app.command()
def train(
    data: str = typer.Option("demo", "--data", "-d", help="Folder of class folders (or train/ and test/), or 'demo'."),
    image_size: int = typer.Option(100, help="Input side in pixels (the study used 100)."),
    arch: str = typer.Option("cnn", help="cnn (the study's), mobilenetv2 or efficientnetb0."),
    widths: str = typer.Option("32,32,64,64,128,128", help="Conv widths, two per block (cnn only)."),
    dense: int = typer.Option(256, help="Width of the hidden Dense layer (cnn only)."),
    weights: str = typer.Option("none", help="Transfer weights: imagenet or none."),
    epochs: int = typer.Option(100, help="Most epochs; early stopping usually ends sooner."),
    batch_size: int = typer.Option(64),
    lr: float = typer.Option(3e-4, help="AdamW learning rate."),
    patience: int = typer.Option(5, help="Early-stopping patience on val_loss."),
    augment: str = typer.Option("study", help="study (rotation 20, shift 0.2, flip), light (shift 0.1, flip) or none."),
    seed: int = typer.Option(42, help="Seed of the split and the training."),
    limit_per_class: Optional[int] = typer.Option(None, help="Use at most N images per class (quick runs)."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Run name (default: <arch>-<time>)."),
    force: bool = typer.Option(False, help="Replace an existing run of that name."),
    resume: bool = typer.Option(False, help="Continue an interrupted run (the latest, or --out NAME)."),
    workspace: Path = WorkspaceOpt,
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Train the study's compact CNN (or a transfer baseline) and write runs/<name>/."""
    from .ui import RichReporter, console, pct
    from .workbench.train import TrainOptions, train as do_train

    opts = TrainOptions(data=data, image_size=image_size, arch=arch, widths=_ints(widths, "--widths"), dense=dense,
                        weights=weights, epochs=epochs, batch_size=batch_size, lr=lr, patience=patience,
                        augment=augment, seed=seed, limit_per_class=limit_per_class, workspace=str(workspace),
                        out=out, force=force)
    run = do_train(opts, resume=resume, reporter=RichReporter(quiet))
    info = run.info
    rec = info["bn_recalibration"]
    console.print(f"[bold green]run[/] {run.path}  params {info['params']:,}  epochs {info['epochs_run']}  "
                  f"val {pct(info['val_accuracy'])}  test {pct(info['test_accuracy'])}  "
                  f"(BatchNorm re-estimated: val {pct(rec['val_accuracy_before'])} -> {pct(rec['val_accuracy_after'])})")


@data_app.command("inspect")
def data_inspect(path: Path = typer.Argument(..., help="Dataset folder."),
                 show: int = typer.Option(20, help="List at most this many bad files.")):
    """Classes, images per class, image sizes, and the files that cannot be decoded."""
    from .data.inspect import inspect_folder
    from .ui import RichReporter, console, table

    ins = inspect_folder(path, RichReporter())
    splits = list(ins.counts)
    rows = [[c, f if f != c else "", *[ins.counts[s][c] for s in splits]] for c, f in zip(ins.classes, ins.folders)]
    rows.append(["total", "", *[sum(ins.counts[s].values()) for s in splits]])
    console.print(table(f"{ins.root}: {len(ins.classes)} classes", ["class", "folder", *splits], rows))
    if ins.sizes:
        s = ins.sizes
        console.print(f"image sizes: width {s['width_min']:.0f}-{s['width_max']:.0f} (median {s['width_median']:.0f}), "
                      f"height {s['height_min']:.0f}-{s['height_max']:.0f} (median {s['height_median']:.0f})")
    console.print(f"undecodable: {len(ins.bad)}   not images: {len(ins.ignored)}")
    for rel, why in list(ins.bad.items())[:show]:
        console.print(f"  {rel}: {why}", highlight=False)


def main() -> None:
    try:
        app(standalone_mode=False)
    except UserError as exc:
        from rich.console import Console

        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted; nothing half-written was left (use --resume where offered)", file=sys.stderr)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort,):
        sys.exit(1)
    except Exception as exc:
        # usage errors of the command-line parser (a bad option, a missing argument) carry their own message
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(exc.exit_code)
        raise
