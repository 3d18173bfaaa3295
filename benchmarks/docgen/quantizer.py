"""LiteRT's quantizer against the converter's formats (issue 26; benchmarks/quantizer.sh and quantizer.py)."""
from __future__ import annotations

from .common import GOALS, RES, load, machine, md_table, ms_ci, paired, pct

INT4 = ("wi4", "wi4-block32", "mixed")


def _ci(x: dict | None, digits: int) -> str:
    if not x:
        return "-"
    ci = x.get("ci95")
    f = lambda v: f"{v:.{digits}f}"  # noqa: E731
    return f(x["median"]) + (f" [{f(ci[0])}-{f(ci[1])}]" if ci else "") + (
        "" if x.get("resolved", True) else " not resolved")


def _p50(f: dict) -> str:
    return ms_ci(f.get("p50_ms"), f.get("p50_ci"))


def _vs8(f: dict) -> str:
    v = f.get("vs_int8_paired")
    if not v:
        return "-" if f["format"] != "int8" else "(reference)"
    return paired(v)


def quantizer_section() -> list[str] | None:
    f = RES / "quantizer" / "results.json"
    if not f.is_file():
        return None
    d = load(f)

    calls: list[dict] = []  # the bench calls, each with the models it timed
    for m in d["models"]:
        if m["bench"] not in calls:
            calls.append(m["bench"])
    timed = "; ".join(
        ", ".join(f"{px} px" for px in sorted({m["image_size"] for m in d["models"] if m["bench"] == c}))
        + f" on {machine(c['device'])}, {c['threads']} threads, in one call of {c['bench_seconds']:.0f} s"
        for c in calls)
    out = ["## LiteRT's quantizer (issue 26)", "",
           f"Command: `bash benchmarks/quantizer.sh`, its `SIZES` naming the image sizes one call times (results in `benchmarks/results/quantizer/results.json`). "
           f"Every file of a model was benched in one call, side by side in interleaved rounds at the bench's "
           f"defaults: {timed}. "
           "File accuracy is on the model's own test split, paired against the same model's `int8` file "
           "(points ± s.e., McNemar p); speed-ups are the reference's p50 over the file's, round by round, with "
           "95 % intervals (above one: faster).", ""]
    goal_lines = []
    for m in d["models"]:
        files = m["files"]
        rows = [[x["file"], x["format"], f"{x['bytes']:,}", f"{x['gzip_bytes']:,}",
                 f"{x['gzip_over_entropy_floor']:.2f}x" if x.get("gzip_over_entropy_floor") else "-",
                 pct(x.get("accuracy")), _vs8(x), _p50(x), _ci(x.get("speedup_vs_fp32"), 2),
                 _ci(x.get("speedup_vs_int8"), 2)] for x in files]
        trained = (f", {'fine-tuned' if m.get('fine_tuned') else 'trained'} {m['epochs_run']} epochs"
                   if m.get("epochs_run") is not None else "")
        out += [f"### {m['key']} ({m['run']}{trained})", "",
                md_table(["file", "format", "bytes", "gzip", "gzip / entropy floor", "file acc %",
                          "vs int8 (points ± s.e.)", "p50 ms [95 % CI]", "speed-up vs fp32", "speed-up vs int8"],
                         rows), ""]
        for r in m.get("rejected") or []:
            out += [f"- `{r['file']}` ({r['format']}) was not kept: {r['error']}"]
        if m.get("rejected"):
            out += [""]
        if m.get("mixed_error"):
            out += [f"`mixed` under {m['mixed_max_kb']:.1f} kB: {m['mixed_error']}"
                    + (f"; made instead under {m['mixed_retry_max_kb']:.1f} kB, halfway from there to the int8 file"
                       if m.get("mixed_retry_max_kb") else ""), ""]
        if m.get("formats_not_made"):
            slow = [(o["key"], x["speedup_vs_fp32"]) for o in d["models"] for x in o["files"]
                    if x["format"] == "a16w8" and o["image_size"] < m["image_size"] and x.get("speedup_vs_fp32")]
            why = (f" (int16 activations run on reference kernels: the {slow[0][0]} file ran at "
                   f"{slow[0][1]['median']:.3f}x the speed of fp32, so its export's check on the test split takes "
                   f"minutes per file)" if "a16w8" in m["formats_not_made"] and slow else "")
            out += ["Not made at this size: " + ", ".join(f"`{f}`" for f in m["formats_not_made"]) + why + ".", ""]
        by = {x["format"]: x for x in files}
        if "int8" in by and m["key"].endswith(":dense"):
            base = by["int8"]["gzip_bytes"]
            for fmt in INT4:
                x = by.get(fmt)
                if not x or not x.get("vs_int8_paired"):
                    continue
                ratio = x["gzip_bytes"] / base
                pts = 100 * x["vs_int8_paired"]["diff"]
                ok = ratio <= GOALS["int4_gzip_of_int8"] and pts >= -GOALS["int4_points_below_int8"]
                goal_lines.append(f"- {m['key']} `{fmt}`: gzip {ratio:.2f}x the int8 file's, {pts:+.2f} points "
                                  f"against it: {'met' if ok else 'not met'} (goal at most "
                                  f"{GOALS['int4_gzip_of_int8']:.2f}x, at most "
                                  f"{GOALS['int4_points_below_int8']:.1f} point below).")
            w = by.get("wi8")
            if w:
                goal_lines.append(f"- {m['key']} `wi8` (int8 weights, float activations): "
                                  f"{_ci(w.get('speedup_vs_fp32'), 2)}x the speed of fp32 and "
                                  f"{_ci(w.get('speedup_vs_int8'), 2)}x that of the converter's int8.")
    sparse = {m["key"]: {x["format"]: x for x in m["files"]} for m in d["models"]}
    for key, by in sparse.items():
        if key.endswith(":weight-90") and "wi4" in by and "wi8" in by:
            dense = sparse.get(key.replace("weight-90", "dense"), {})
            sp = by["wi4"]["gzip_bytes"] / by["wi8"]["gzip_bytes"]
            line = f"- Sparsity and int4 ({key}): `wi4` gzips to {sp:.2f}x the `wi8` file"
            if "wi4" in dense and "wi8" in dense:
                dn = dense["wi4"]["gzip_bytes"] / dense["wi8"]["gzip_bytes"]
                line += (f", against {dn:.2f}x for the dense model: " + (
                    "int4 saves less on the weight-pruned model, whose zeros gzip had already squeezed" if sp > dn
                    else "int4 saves as much on the weight-pruned model"))
            goal_lines.append(line + ".")
    if goal_lines:
        out += ["Goals and findings:", "", *goal_lines, ""]
    if d.get("skipped"):
        out += ["Not measured: " + "; ".join(f"{k} ({v})" for k, v in d["skipped"].items()), ""]
    return out
