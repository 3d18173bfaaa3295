"""edgeprune's command line: parses options, calls the modules that do the work, prints their results.

Imports of the workbench (TensorFlow) happen inside the commands that need them, so `edgeprune --help` and
`edgeprune bench` never load TensorFlow.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape

from . import methods
from .errors import UserError, short
from .formats import FORMATS
from .options import command
from .options.export import ExportOptions
from .options.optimize import OptimizeOptions
from .options.probe import ProbeOptions
from .options.report import InspectOptions, ReportOptions, SensitivityOptions
from .options.prune import PruneOptions
from .options.train import ImportOptions, TrainOptions
from .device.bench import BenchOptions
from .device.latency_table import CheckOptions, MeasureOptions
from .study.cells import SweepOptions
from .workspace import DEFAULT_WORKSPACE

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Train, prune, export and benchmark compact image classifiers for small devices.")
data_app = typer.Typer(no_args_is_help=True, help="Look at datasets (folders of class folders).")
app.add_typer(data_app, name="data")
latency_app = typer.Typer(no_args_is_help=True, help="Latency budgets: probe a run, measure the probe on the device, "
                          "check the table; then `prune --method filter --target-ms`.")
app.add_typer(latency_app, name="latency")

WorkspaceOpt = typer.Option(DEFAULT_WORKSPACE, "--workspace", "-w", help="Folder that holds the runs.")
QuietOpt = typer.Option(False, "--quiet", "-q", help="Print only the results.")
RunArg = typer.Argument(None, help="Run folder or name (default: the latest run).")


@command(app, TrainOptions)
def train(
    opts: TrainOptions,
    resume: bool = typer.Option(False, help="Continue an interrupted run (the latest, or --out NAME)."),
    workspace: Path = WorkspaceOpt,
    quiet: bool = QuietOpt,
):
    """Train the study's compact CNN (or a transfer baseline) and write runs/<name>/."""
    from .ui import RichReporter, console, pct
    from .workbench.training.train import train as do_train

    opts.workspace = str(workspace)
    run = do_train(opts, resume=resume, reporter=RichReporter(quiet))
    info = run.info
    rec = info.bn_recalibration
    console.print(f"[bold green]run[/] {escape(str(run.path))}  params {info.params:,}  epochs {info.epochs_run}  "
                  f"val {pct(info.val_accuracy)}  test {pct(info.test_accuracy)}  "
                  f"(BatchNorm re-estimated: val {pct(rec['val_accuracy_before'])} -> {pct(rec['val_accuracy_after'])})")


@command(app, ImportOptions, "import")
def import_(
    o: ImportOptions,
    workspace: Path = WorkspaceOpt,
    quiet: bool = QuietOpt,
):
    """Make a run from a model trained elsewhere: checked, rebuilt for tf_keras, scored on the dataset's splits."""
    from .ui import RichReporter, console, pct
    from .workbench.importing.command import import_model

    o.workspace = str(workspace)
    run = import_model(o, RichReporter(quiet))
    info = run.info
    console.print(f"[bold green]run[/] {escape(str(run.path))}  imported from {escape(info.source['format'])}  "
                  f"params {info.params:,}  val {pct(info.val_accuracy)}  test {pct(info.test_accuracy)}", highlight=False)
    if info.warning:
        console.print(f"[yellow]warning:[/] {escape(info.warning)}", highlight=False)


@command(data_app, InspectOptions, "inspect")
def data_inspect(o: InspectOptions, path: Path = typer.Argument(..., help="Dataset folder.")):
    """Classes, images per class, image sizes, and the files that cannot be decoded."""
    from .data.inspect import inspect_folder
    from .ui import RichReporter, console, table

    show = o.show
    if show < 0:
        raise UserError(f"--show must be 0 or more, got {show}")
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
        console.print(f"  {escape(rel)}: {escape(why)}", highlight=False)


def _methods_help() -> str:
    return "; ".join(f"{m.name}: {m.help}" for m in map(methods.get, methods.names())) + "."


@command(app, PruneOptions, helps={"method": _methods_help})
def prune(
    o: PruneOptions,
    model: Optional[str] = RunArg,
    workspace: Path = WorkspaceOpt,
    quiet: bool = QuietOpt,
):
    """Prune a trained run, fine-tune it and write a new run with measured sparsity, params and MACs."""
    from .ui import RichReporter, console, pct, table
    from .pruner import prune as do_prune
    from .pruner import resolve_target, validate
    from .workspace import resolve_run

    o = resolve_target(o)  # --target-ms 0.5x in milliseconds, from the table
    validate(o)  # every option, before the run is looked for
    run = resolve_run(model, workspace)
    new = do_prune(run, workspace, o, RichReporter(quiet), checked=True)
    info = new.info
    p = info.pruning
    for item in methods.get(info.method).describe(p):
        if isinstance(item, methods.SummaryTable):
            console.print(table(item.title, item.columns, item.rows))
        else:
            console.print(item, highlight=False, markup=False)
    if p.clustering:
        console.print(f"clustered to {p.clustering['clusters']} values: distinct per kernel "
                      f"{p.clustering['distinct_values_per_kernel']}")
    par = info.parent
    console.print(f"[bold green]run[/] {escape(str(new.path))}  val {pct(info.val_accuracy)}  test {pct(info.test_accuracy)}  "
                  f"(parent: val {pct(par.val_accuracy)}, test {pct(par.test_accuracy)})")
    if info.control is not None:
        c = info.control
        console.print(f"control (unpruned, same fine-tuning): val {pct(c.val_accuracy)}  test {pct(c.test_accuracy)}  "
                      f"-> pruned minus control: test {_points(info.vs_control)}", highlight=False)
    if info.scratch is not None:
        sc = info.scratch
        console.print(f"scratch twin (this architecture from random weights, {sc['epochs_run']} epochs, "
                      f"{sc['budget']} budget): val {pct(sc['val_accuracy'])}  test {pct(sc['test_accuracy'])}  "
                      f"-> pruned minus scratch: test {_points(info.vs_scratch)}", highlight=False)


def _points(vs: dict | None) -> str:
    """A pruned-minus-other difference in points: paired (± s.e., McNemar p) where both kept their test images."""
    paired = (vs or {}).get("test_paired")
    return (f"{100 * paired['diff']:+.2f} ± {100 * paired['se']:.2f} points (paired s.e.; McNemar p "
            f"{paired['mcnemar_p']:.3g})" if paired else f"{100 * (vs or {}).get('test_accuracy', float('nan')):+.2f} points")


@command(latency_app, ProbeOptions, "probe")
def latency_probe(
    o: ProbeOptions,
    model: Optional[str] = RunArg,
    workspace: Path = WorkspaceOpt,
    quiet: bool = QuietOpt,
):
    """Write the TFLite files whose times on the device predict this model's latency at any widths."""
    from .ui import RichReporter, console
    from .workbench.latency_probe import probe
    from .workspace import resolve_run

    run = resolve_run(model, workspace)
    folder, m = probe(run, workspace, o, RichReporter(quiet))
    est = m.extra.get("estimate_pi4_seconds", 0)
    console.print(f"[bold green]probe[/] {escape(str(folder))}: {len(m.files)} files ({len(m.segments)} segments x "
                  f"{', '.join(m.formats)}); measuring takes about {est / 60:.1f} min on a Raspberry Pi 4 (estimated "
                  "from MACs). Next, on the device: edgeprune latency measure PROBE --threads N --json TABLE",
                  highlight=False)


@command(latency_app, MeasureOptions, "measure")
def latency_measure(
    o: MeasureOptions,
    probe: Path = typer.Argument(..., help="The probe folder (`edgeprune latency probe`)."),
    json_out: Path = typer.Option(..., "--json", help="The table to write; an interrupted run resumes from it."),
    quiet: bool = QuietOpt,
):
    """Time every probe file on this device (no TensorFlow needed) and write the latency table."""
    from .device.latency_table import measure_probe
    from .latency.model import describe
    from .ui import RichReporter, console

    table = measure_probe(probe, json_out, o, RichReporter(quiet))
    bad = [r for r in table.rows if r.error]
    console.print(f"[bold green]table[/] {escape(str(json_out))}: {len(table.rows) - len(bad)} files timed on "
                  f"{escape(describe(table))}" + (f"; {len(bad)} failed (first: {escape(bad[0].error)})" if bad else ""),
                  highlight=False)
    if bad:
        raise typer.Exit(1)


@command(latency_app, CheckOptions, "check")
def latency_check(o: CheckOptions, table: Path = typer.Argument(..., help="A latency table (`edgeprune latency measure`).")):
    """Predicted against measured latency of the whole-model variants that were not used to fit the table."""
    from .latency.model import LatencyModel, describe, median_abs_error
    from .readers import read_latency_table
    from .ui import console
    from .ui import table as rich_table

    tab = read_latency_table(table)
    console.print(f"{escape(str(table))}: {escape(describe(tab))}", highlight=False)
    for fmt in tab.probe.formats:
        lat = LatencyModel(tab, fmt)
        rows = lat.check()
        mae = median_abs_error(rows)
        console.print(rich_table(f"{fmt}: overhead fit p50 = {lat.a:.4f} + {lat.b:.3f} x sum of segments (ms)",
                                 ["variant", "predicted ms", "measured ms", "error"],
                                 [[r.file, f"{r.predicted:.4f}", f"{r.measured:.4f}", f"{100 * r.error:+.1f}%"] for r in rows]))
        console.print(f"{fmt}: median absolute error {100 * mae:.1f}% over {len(rows)} validation variants"
                      if mae is not None else f"{fmt}: no validation variant was measured", highlight=False)


@command(app, SensitivityOptions, "sensitivity")
def sensitivity_cmd(
    o: SensitivityOptions,
    model: Optional[str] = RunArg,
    workspace: Path = WorkspaceOpt,
    quiet: bool = QuietOpt,
):
    """Prune one layer at a time (no fine-tuning) and measure validation accuracy at each ratio."""
    from .ui import RichReporter, console, pct, table
    from .workbench.pruning.sensitivity import run_sensitivity
    from .workspace import resolve_run

    rs = o.ratios
    res, files = run_sensitivity(resolve_run(model, workspace), workspace, o.criterion, rs,
                                 Path(o.out) if o.out else None, o.force, RichReporter(quiet))
    console.print(table(f"val accuracy with one layer pruned (baseline {pct(res['baseline_val_accuracy'])})",
                        ["layer", *[f"{r:.0%}" for r in rs]], [[n, *[pct(a, 1) for a in row["val_accuracy"]]] for n, row in res["layers"].items()]))
    console.print("written " + " and ".join(str(f) for f in files), highlight=False, markup=False)


@command(app, ExportOptions, helps={"formats": lambda: "Any of: " + "; ".join(
    f"{f.name} ({f.description})" for f in FORMATS.values()) + "."})
def export(
    o: ExportOptions,
    model: Optional[str] = RunArg,
    workspace: Path = WorkspaceOpt,
    quiet: bool = QuietOpt,
):
    """Write TFLite files and a bundle (labels, model card, test set), verifying each file in the TFLite runtime."""
    from .ui import RichReporter, console, kb, pct, table
    from .workbench.export.bundle import export as do_export
    from .workspace import resolve_run

    run = resolve_run(model, workspace)
    res = do_export(run, workspace, o, RichReporter(quiet))
    # a file replaced by design (--sparse auto: a sparse encoding XNNPACK cannot run) was logged as one plain line
    # during the export; it is neither a table row nor a failure. Real failures stay loud.
    shown = [r for r in res.rows if r.kept or r.file in res.failed]
    rows = [[r.file, kb(r.bytes), kb(r.gzip_bytes), f"{r.gzip_over_entropy_floor:.2f}x" if r.gzip_over_entropy_floor else "-",
             pct(r.accuracy), pct(r.agreement), "yes" if r.runs_xnnpack else "NO", "yes" if r.runs_reference else "NO",
             "kept" if r.kept else "REJECTED"] for r in shown]
    console.print(table(f"bundle {res.bundle}", ["file", "size", "gzip", "gzip/entropy floor", "accuracy", "agrees w/ Keras",
                                                  "XNNPACK", "reference", ""], rows))
    for r in shown:
        if r.error:
            console.print(f"[yellow]{escape(r.file)}[/]: {escape(r.error)}", highlight=False)
    kept = sum(r.kept for r in res.rows)
    if res.failed:
        console.print(f"[bold red]export failed:[/] {len(res.failed)} file(s) rejected ({escape(', '.join(res.failed))}); "
                      f"{escape(str(res.bundle))} holds the {kept} that passed", highlight=False)
        raise typer.Exit(1)
    console.print(f"[bold green]export succeeded:[/] {kept} file(s) verified and kept in {escape(str(res.bundle))}",
                  highlight=False)


@command(app, BenchOptions)
def bench(
    opts: BenchOptions,
    models: List[Path] = typer.Argument(..., help="TFLite files to measure."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the results as JSON."),
    csv_out: Optional[Path] = typer.Option(None, "--csv", help="Write the results as CSV."),
    append: bool = typer.Option(False, help="Add to existing --json/--csv files."),
    force: bool = typer.Option(False, help="Replace existing --json/--csv files."),
    quiet: bool = QuietOpt,
):
    """Measure accuracy, size, gzip size and per-image latency of TFLite files on this device. Needs no TensorFlow."""
    from .device.bench import check_outputs, resolution, save_csv, save_json
    from .device.bench import bench as do_bench
    from .device.sysinfo import device_summary
    from .ui import RichReporter, console, kb, pct, table

    rounds = opts.rounds
    opts.check()
    check_outputs(json_out, csv_out, append, force)
    res = do_bench([str(m) for m in models], opts, RichReporter(quiet))
    dev = res.device
    rtms = sorted({f"{r.runtime['name']} {r.runtime['version']}" for r in res.rows if r.runtime and r.runtime.get("version")})
    console.print(f"device: {escape(device_summary(dev))}"
                  f"  runtime: {', '.join(rtms) or '-'}  XNNPACK: {'on' if opts.xnnpack else 'off'}", highlight=False)
    rows = []
    for r in res.rows:
        lat = r.latency_ms
        ci = f" [{r.p50_ci[0]:.3f}-{r.p50_ci[1]:.3f}]" if r.p50_ci and r.rounds and r.rounds > 1 else ""
        sp = "-" if not r.speedup else f"{r.speedup:.2f}x" + (
            f" [{r.speedup_ci[0]:.2f}-{r.speedup_ci[1]:.2f}]" + ("" if r.speedup_resolved else " not resolved")
            if r.speedup_ci else "")
        rows.append([r.label, r.format, r.threads, kb(r.bytes), kb(r.gzip_bytes),
                     pct(r.accuracy) if r.accuracy is not None else ("-" if r.error else "not measured"),
                     (f"{lat.p50:.3f}" + ci) if lat else "-", f"{lat.p99:.3f}" if lat else "-",
                     f"{r.images_per_s:.0f}" if r.images_per_s else "-", f"{r.gflops:.1f}" if r.gflops else "-", sp])
    title = "bench (latency per image at batch 1, ms" + (f"; median of {rounds} rounds, 95 % intervals)" if rounds > 1 else ")")
    console.print(table(title, ["model", "format", "threads", "size", "gzip", "accuracy", "p50", "p99", "img/s",
                                "GFLOP/s", "speed-up"], rows))
    for r in resolution(res.rows):
        console.print(f"resolution: the same file measured twice came out {r.speedup:.3f}x "
                      f"[{r.speedup_ci[0]:.3f}-{r.speedup_ci[1]:.3f}] at {r.threads} threads; differences inside "
                      "such an interval are noise", highlight=False)
    for r in res.rows:
        if r.error:
            console.print(f"[red]{escape(r.label)}[/]: {escape(r.error)}", highlight=False)
        for w in r.warnings():
            console.print(f"[yellow]{escape(r.label)}[/]: {escape(w)}", highlight=False)
    if json_out:
        save_json(res, json_out, append)
    if csv_out:
        save_csv(res, csv_out, append)
    if res.failed:
        raise typer.Exit(1)


@command(app, OptimizeOptions)
def optimize(
    o: OptimizeOptions,
    model: Optional[str] = RunArg,
    workspace: Path = WorkspaceOpt,
    quiet: bool = QuietOpt,
):
    """Name a latency budget (and a size budget): the most accurate candidate that meets it, measured on the device."""
    from .study.optimize import RESULT, optimize as do_optimize, prepare
    from .ui import RichReporter, console, kb, pct, table
    from .workspace import resolve_run

    run = resolve_run(model, workspace)
    prepared = prepare(run, workspace, o)
    plan = prepared[3]
    rows = [[p.key, f, ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                 for k, v in p.about.items() if k != "method") or "-",
             f"{p.predicted_ms[f]:.4g}", kb(p.predicted_bytes.get(f)), "yes" if plan.worth_timing(p, f) else "no"]
            for p, f in plan.candidates()]
    est = " + ".join(s for s in ((f"about {plan.train_s / 60:.1f} min of fine-tuning (the parent's seconds per epoch)"
                                  if plan.train_s else ""), f"about {plan.bench_s / 60:.1f} min of timing") if s)
    console.print(table(f"plan: {len(plan.cells)} candidates for p50 <= {plan.max_ms:.4g} ms on {plan.device}",
                        ["cell", "format", "options", "predicted ms", "predicted size", "timed"], rows))
    console.print(f"estimated: {est}, plus exporting each candidate", highlight=False, markup=False)
    if o.dry_run:
        console.print("--dry-run: nothing was trained or written", highlight=False, markup=False)
        return
    out = do_optimize(run, workspace, o, RichReporter(quiet), prepared=prepared)
    rec = out.record
    if out.handed_off:
        console.print(f"[bold green]handed off[/] {escape(str(out.folder / 'candidates'))}: copy it to the device, run "
                      f"`edgeprune bench candidates/*/*.tflite --threads {rec.threads or 'N'} --predictions --json "
                      f"device.json` there, then `edgeprune optimize {escape(run.name)} --resume --bench device.json`"
                      + (f" --out {escape(str(out.folder))}" if o.out else ""), highlight=False)
        return
    rows = [[c.key, f"{c.p50_ms:.4g}" + (f" [{c.p50_ci[0]:.4g}-{c.p50_ci[1]:.4g}]" if c.p50_ci else "")
             if c.p50_ms is not None else "-", kb(c.gzip_bytes), pct(c.accuracy),
             "PICK" if c.key == rec.pick else f"{c.lost}: {c.why}"[:70]] for c in rec.candidates]
    console.print(table("measured on the device", ["candidate", "p50 ms [95 %]", "gzip", "accuracy", ""], rows))
    for n in rec.notes:
        console.print(f"[yellow]note:[/] {escape(n)}", highlight=False)
    if rec.pick is None:
        console.print(f"[bold red]no pick:[/] {escape(rec.message or '')} ({escape(str(out.folder / RESULT))})",
                      highlight=False)
        raise typer.Exit(1)
    console.print(f"[bold green]pick[/] {escape(rec.message or '')}; {escape(str(out.folder / (rec.pick_file or '')))}"
                  f" (report: {escape(str(out.folder / 'report.md'))})", highlight=False)


@command(app, SweepOptions, helps={"methods": lambda: "Comma-separated: " + ", ".join(methods.swept()) + "."})
def sweep(
    o: SweepOptions,
    model: Optional[str] = RunArg,
    workspace: Path = WorkspaceOpt,
    quiet: bool = QuietOpt,
):
    """Prune, export (and bench) a grid of methods x values; resumable; one results file and a Table-2-style summary."""
    from .study.sweep import sweep as do_sweep
    from .ui import RichReporter, console, kb, pct, table
    from .workspace import resolve_run

    run = resolve_run(model, workspace)
    if o.latency_table:  # cells may run elsewhere (Ray): the table by its full path
        o.latency_table = str(Path(o.latency_table).resolve())
    folder, recs = do_sweep(run, workspace, o, RichReporter(quiet))
    rows = []
    for r in recs:
        p50 = r.p50("fp32")
        rows.append([r.cell, pct(r.val_accuracy), pct(r.test_accuracy), pct(r.sparsity),
                     f"{r.nonzero_params:,}" if r.nonzero_params else "-", f"{r.params:,}" if r.params else "-",
                     kb(r.fp32_gzip_bytes), f"{p50:.3f}" if p50 else "-", (r.error or "")[:60]])
    console.print(table(f"sweep of {run.name} ({folder / 'results.jsonl'})", ["cell", "val acc", "test acc", "sparsity",
                        "nonzero params", "params", "fp32 gzip", "fp32 p50 ms", "error"], rows))
    if len(o.seeds) > 1:
        from .study.seeds import over_seeds, points

        rows = [[g.cell, ", ".join(map(str, g.seeds)), points(g.accuracy()), points(g.difference(), signed=True)]
                for g in over_seeds(recs)]
        console.print(table("over seeds (mean ± sd; vs control: each seed's paired difference from its own control)",
                            ["cell", "seeds", "test acc %", "vs control (points)"], rows))
    if any(r.error for r in recs):
        raise typer.Exit(1)


@command(app, ReportOptions)
def report(
    o: ReportOptions,
    results: List[Path] = typer.Argument(None, help="Sweep results.jsonl, export bundle folders, bench JSON, sensitivity JSON."),
    workspace: Path = WorkspaceOpt,
):
    """Write report.md (the comparison table) and PNG plots, or --pick the best model under size/latency limits."""
    from .study.entries import load_inputs
    from .study.report import check_report_folder, pick, write_report
    from .ui import console, err_console
    from .workspace import output_folder

    folder = output_folder(workspace, "report", o.out, "report")
    if not o.pick:
        check_report_folder(folder, o.force)
    if not results:
        raise UserError("name the results to report: a sweep's results.jsonl, export bundle folders, bench JSON files")
    entries, warnings, sens = load_inputs(results)
    for w in warnings:
        err_console.print(f"[yellow]warning:[/] {escape(w)}", highlight=False, soft_wrap=True)
    if o.pick:
        res = pick(entries, o.max_gzip_mb, o.max_p50_ms, o.device)
        console.print(res.message, highlight=False, markup=False)
        if res.entry is None:
            raise typer.Exit(1)
        return
    rep = write_report(entries, folder, warnings, sens, force=o.force)
    console.print(f"written {rep['report']}" + "".join(f", {p}" for p in rep["plots"]), highlight=False, markup=False)
    if rep["note"]:
        console.print(rep["note"], highlight=False)


def main() -> None:
    try:
        rc = app(standalone_mode=False)  # returns the exit code of typer.Exit in this mode
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except UserError as exc:
        from rich.console import Console
        from rich.markup import escape

        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted; nothing half-written was left (use --resume where offered)", file=sys.stderr)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except Exception as exc:
        # usage errors of the command-line parser (a bad option, a missing argument) carry their own message
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(exc.exit_code)
        if os.environ.get("EDGEPRUNE_DEBUG"):
            raise
        # a fault of edgeprune itself: one line, and the way to see more
        msg = short(exc)
        print(f"internal error: {exc.__class__.__name__}: {msg} (a bug in edgeprune; run again with EDGEPRUNE_DEBUG=1 "
              "for the traceback, and please report it)", file=sys.stderr)
        sys.exit(1)
