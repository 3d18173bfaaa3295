"""`edgeprune report`: the comparison table (the study's Table 4, like with like), Pareto plots, and --pick."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from .. import formats, methods
from ..errors import UserError
from ..jsonio import atomic_write_text, check_writable
from ..paired_accuracy import compare
from ..paths import check_not_protected
from .entries import Entry, devices, pareto  # noqa: F401  (pareto: part of this module's API)


def dense_reference(entries: list[Entry]) -> dict[str, Entry]:
    """The unpruned model's entry per format, the base of compression and speed-up: a trained run (no parent)
    rather than a fine-tuned control, and a densely encoded file where there is one."""
    ref: dict[str, Entry] = {}
    rank = lambda e: (e.parent is None, e.sparse is not True)  # noqa: E731
    for e in entries:
        if e.method == "none" and (e.format not in ref or rank(e) > rank(ref[e.format])):
            ref[e.format] = e
    return ref


def compression(e: Entry, ref: dict[str, Entry]) -> float | None:
    r = ref.get(e.format)
    return r.gzip_bytes / e.gzip_bytes if r and r.gzip_bytes and e.gzip_bytes else None


def speedup(e: Entry, ref: dict[str, Entry], device: str) -> float | None:
    r = ref.get("fp32") if e.format not in ref else ref[e.format]
    base = (r.latency.get(device) or {}).get("p50") if r else None
    mine = (e.latency.get(device) or {}).get("p50")
    return base / mine if base and mine else None


PREDICTED = "predicted (latency table)"
DISTILL_KEYS = ("distill", "distill_alpha", "temperature", "teacher")


def vs_control(e: Entry) -> str:
    """This model minus its control, in points: paired, with one standard error, where both runs kept which test
    images they got right; else the plain difference."""
    paired = compare(e.test_correct, e.control_test_correct)
    if paired:
        return paired.points()
    if e.keras_test_accuracy is not None and e.control_test_accuracy is not None:
        return f"{100 * (e.keras_test_accuracy - e.control_test_accuracy):+.2f}"
    return "-"


def vs_scratch(e: Entry) -> str:
    """This model minus its scratch twin (the same architecture trained from random weights), paired."""
    paired = compare(e.test_correct, e.scratch_test_correct)
    if paired:
        return paired.points()
    if e.keras_test_accuracy is not None and isinstance(e.scratch_test_accuracy, float):
        return f"{100 * (e.keras_test_accuracy - e.scratch_test_accuracy):+.2f}"
    return "-"


def plain_twin(e: Entry, entries: list[Entry]) -> Entry | None:
    """The entry fine-tuned exactly as ``e`` but without the teacher: same parent, method, format and options."""
    if not e.options or not e.options.get("distill"):
        return None
    for o in entries:
        if o is e or not o.options or o.options.get("distill"):
            continue
        shared = (set(e.options) & set(o.options)) - set(DISTILL_KEYS)  # options an older run did not have: not compared
        if (o.parent == e.parent and o.method == e.method and o.format == e.format and o.sparse == e.sparse
                and all(e.options[k] == o.options[k] for k in shared)):
            return o
    return None


def recovery(e: Entry, entries: list[Entry]) -> str:
    """Distilled minus plain fine-tuning at equal epochs (paired, ± one standard error)."""
    twin = plain_twin(e, entries)
    paired = compare(e.test_correct, twin.test_correct) if twin else None
    if paired:
        return paired.points()
    if twin and e.keras_test_accuracy is not None and twin.keras_test_accuracy is not None:
        return f"{100 * (e.keras_test_accuracy - twin.keras_test_accuracy):+.2f}"
    return "-"


def _f(v, fmt="{:.2f}", none="-"):
    return none if v is None else fmt.format(v)


def _pct(v):
    return "-" if v is None else f"{100 * v:.2f}"


def _kb(n):
    return "-" if n is None else (f"{n / 1024:.1f} kB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.2f} MB")


def sort_key(e: Entry):
    return (methods.order(e.method), str(e.target), e.bundle, formats.order(e.format), e.file)


def table_rows(entries: list[Entry]) -> tuple[list[str], list[list[str]]]:
    ref = dense_reference(entries)
    devs = devices(entries)
    cols = ["model", "method", "target", "achieved", "params", "nonzero", "MACs", "test acc % (Keras)", "control acc %",
            "vs control (points ± s.e.)", "recovery: kd − plain (points ± s.e.)", "format", "file acc %", "bytes", "gzip", "x smaller (gzip, same format)", "gzip / naive bound",
            "gzip / entropy floor"]
    for d in devs:
        cols += [f"p50 ms [{d}]", f"speed-up [{d}]"]
    predicted = any(e.predicted_ms is not None for e in entries)
    if predicted:
        cols.append("predicted p50 ms (latency table)")
    scratch = any(e.scratch_test_accuracy is not None for e in entries)
    if scratch:
        cols.append("vs scratch twin (points ± s.e.)")
    rows = []
    for e in sorted(entries, key=sort_key):
        achieved = e.sparsity if e.sparsity is not None else e.ratio  # measured zeros, else the filters removed
        row = [e.bundle, e.method, str(e.target) if e.target is not None else "-", _f(achieved, "{:.3f}"),
               _f(e.params, "{:,}"), _f(e.nonzero_params, "{:,}"), _f(e.macs, "{:,}"), _pct(e.keras_test_accuracy),
               _pct(e.control_test_accuracy), vs_control(e), recovery(e, entries), e.format + (" sparse" if e.sparse else ""), _pct(e.accuracy), _f(e.bytes, "{:,}"),
               _f(e.gzip_bytes, "{:,}"), _f(compression(e, ref), "{:.2f}x"),
               _f(e.gzip_bytes / e.naive_bound_bytes if e.gzip_bytes and e.naive_bound_bytes else None, "{:.2f}x"),
               _f(e.gzip_bytes / e.entropy_floor_bytes if e.gzip_bytes and e.entropy_floor_bytes else None, "{:.2f}x")]
        for d in devs:
            row += [_f((e.latency.get(d) or {}).get("p50"), "{:.3f}"), _f(speedup(e, ref, d), "{:.2f}x")]
        if predicted:
            row.append(_f(e.predicted_ms, "{:.3f}"))
        if scratch:
            row.append(vs_scratch(e))
        rows.append(row)
    return cols, rows


def markdown_table(cols: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


@dataclass
class Pick:
    entry: Entry | None
    message: str


def pick(entries: list[Entry], max_gzip_mb: float | None, max_p50_ms: float | None, device: str | None) -> Pick:
    if max_gzip_mb is None and max_p50_ms is None:
        raise UserError("--pick needs --max-gzip-mb and/or --max-p50-ms")
    for name, v in (("--max-gzip-mb", max_gzip_mb), ("--max-p50-ms", max_p50_ms)):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise UserError(f"{name} must be a positive number, got {v}")
    if not entries:
        raise UserError("no results to pick from")
    devs = devices(entries)
    predicted = max_p50_ms is not None and not devs and any(e.predicted_ms is not None for e in entries)
    if predicted:  # nothing measured yet: latency-budget runs carry the table's prediction, which they were made for
        devs = [PREDICTED]
    if max_p50_ms is not None:
        if not devs:
            return Pick(None, "no latency was measured: pass bench JSON files, or drop --max-p50-ms")
        if device:
            match = [d for d in devs if device.lower() in d.lower()]
            if not match:
                return Pick(None, f"no measurements from a device matching {device!r}; devices: {', '.join(devs)}")
            dev = match[0]
        elif len(devs) == 1:
            dev = devs[0]
        else:
            return Pick(None, f"latency was measured on several devices; name one with --device ({'; '.join(devs)})")
    scored = [e for e in entries if e.accuracy is not None]
    fits_size = [e for e in scored if max_gzip_mb is None or (e.gzip_bytes or 0) <= max_gzip_mb * 1024 * 1024]
    p50 = (lambda e: e.predicted_ms) if predicted else (lambda e: (e.latency.get(dev) or {}).get("p50"))
    fits_time = [e for e in scored if max_p50_ms is None or (p50(e) or 1e18) <= max_p50_ms]
    both = [e for e in fits_size if e in fits_time]
    if both:
        best = max(both, key=lambda e: (e.accuracy, -(e.gzip_bytes or 0)))
        lat = f", p50 {p50(best):.3f} ms on {dev}" if max_p50_ms is not None else ""
        return Pick(best, f"{best.key}: accuracy {100 * best.accuracy:.2f}%, gzip {_kb(best.gzip_bytes)}{lat}")
    if not scored:
        return Pick(None, "no model with a measured accuracy")
    if not fits_size and not fits_time:
        return Pick(None, "no model fits: both limits bind (size and latency)")
    binds = "--max-gzip-mb" if not fits_size else ("--max-p50-ms" if not fits_time else "the two limits together")
    return Pick(None, f"no model fits; {binds} binds: {len(fits_size)} fit the size limit, {len(fits_time)} the latency limit")


def check_report_folder(out: Path, force: bool) -> None:
    """--out must be a folder (or not exist yet), and an existing report.md is replaced only with --force."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder for report.md and the plots")
    if out.exists():
        check_not_protected(out, "report")
    check_writable(out / "report.md", force)


def write_report(entries: list[Entry], out: Path, warnings: list[str], sensitivity: dict | None = None,
                 force: bool = False, written: str | None = None) -> dict:
    """report.md and the plots in ``out``; ``written`` dates it (default: now; a report regenerated from committed
    results passes its inputs' date, so the same inputs give the same file)."""
    check_report_folder(out, force)
    if not entries:
        why = f" ({warnings[-1]})" if warnings else ""
        raise UserError("no results to report: give sweep results (results.jsonl), export bundles or bench JSON files"
                        + why)
    out.mkdir(parents=True, exist_ok=True)
    cols, rows = table_rows(entries)
    from .plots import plot_all

    plots, plot_note = plot_all(entries, out, sensitivity)
    md = ["# edgeprune report", "", f"Written {written or time.strftime('%Y-%m-%d %H:%M')} from {len(entries)} TFLite files.", "",
          "Sizes compare TFLite with TFLite in the same format, raw and gzip (level 9). `x smaller` is the dense model's "
          "gzip size in the same format over this file's. `gzip / naive bound` compares with nonzero weights x bytes per "
          "weight + the entropy of the zero mask: gzip can beat it, since repeated values cost less than a full weight. "
          "`gzip / entropy floor` compares with the mask entropy + the order-0 entropy of the stored nonzero values per "
          "tensor, which no value-by-value coder goes below. Speed-up is the dense model's p50 over "
          "this file's, on the same device and threads. `control acc` is the unpruned model fine-tuned the same way; "
          "`vs control` is this model minus its control on the same test images, ± one paired standard error; "
          "`recovery` is a distilled model minus the same model fine-tuned without the teacher (equal epochs).", "",
          markdown_table(cols, rows), ""]
    if plots:
        md += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]
    if plot_note:
        md += [f"_{plot_note}_", ""]
    if warnings:
        md += ["## Files not read", ""] + [f"- {w}" for w in warnings] + [""]
    atomic_write_text(out / "report.md", "\n".join(md))
    return {"report": out / "report.md", "plots": plots, "note": plot_note, "columns": cols, "rows": rows}
