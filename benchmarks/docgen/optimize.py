"""`edgeprune optimize` with this machine as the device (issue 25; benchmarks/optimize.sh and optimize.py)."""
from __future__ import annotations

from .common import RES, load, machine, md_table, ms_ci, pct

KB = 1024
SMALL_SPREAD = 1.5  # int8 files within this factor of each other: pruning bought int8 little speed


def _p50(ms: float | None, ci: list | None) -> str:
    return ms_ci(ms, ci, 4)


def _points(d: dict | None, sign: int = 1) -> str:
    """A paired difference in points ± s.e. (``sign`` -1 turns 'this minus the pick' into 'the pick minus this')."""
    if not d:
        return "-"
    return f"{100 * sign * d['diff']:+.2f} ± {100 * d['se']:.2f}"


def _what(c: dict) -> str:
    o = c["options"]
    if o.get("target_ms") is not None:
        return f"`--target-ms` {o['target_ms']:.4g} on the {o.get('latency_format')} rows"
    if o.get("scope") == "uniform":
        return f"uniform filter ratio {o['ratio']:.2f}"
    if o.get("method") == "hybrid":
        return f"filters {o['ratio']:.2f} + weights {o['sparsity']:.2f}"
    if o.get("method") == "weight":
        return f"weight sparsity {o['sparsity']:.2f}"
    return "dense, fine-tuned" if o.get("fine_tuned", True) else "dense"


def _outcome(c: dict, pick: str) -> str:
    if c["key"] == pick:
        return "**pick**"
    return f"{c.get('lost')}" + (f": {c['why']}" if c.get("why") and c.get("lost") != "less accurate" else "")


def _budget(b: dict) -> str:
    s = f"{b['max_ms_text']} of the dense fp32 prediction = {b['max_ms']:.4f} ms"
    return s + (f", gzip at most {b['max_kb']:g} kB" if b.get("max_kb") is not None else "")


def _verdict(base: dict) -> str:
    """The pick against one hand baseline that meets the budget."""
    d = base.get("vs_pick")
    if base["is_pick"]:
        return "is the pick"
    if not d:
        return "not paired"
    gain = -d["diff"]
    if gain > d["se"]:
        return "pick better by more than one s.e"
    if gain >= -d["se"]:
        return "within one s.e. (the smaller and faster file wins a tie)"
    return "pick worse by more than one s.e"


def optimize_section() -> list[str] | None:
    f = RES / "optimize" / "summary.json"
    if not f.is_file():
        return None
    d = load(f)
    t = d["table"]
    errs = ", ".join(f"{k} {100 * v:.1f} %" for k, v in t["median_abs_error"].items() if v is not None)
    out = ["## `edgeprune optimize` (issue 25)", "",
           f"Command: `bash benchmarks/optimize.sh` (results in `benchmarks/results/optimize/summary.json`). The "
           f"device is this machine: the study CNN `{d['run']}` was probed and its latency table measured here "
           f"({machine(t['device'])}, {t['threads']} threads, widths in steps of {t['round_to']}; the table's median "
           f"absolute prediction error on its validation variants: {errs}). Each budget is one `edgeprune optimize` "
           f"process, its candidates fine-tuned {d['epochs']} epochs at learning rate {d['lr']:g} and timed in one "
           "bench call of its own (interleaved rounds); the size budget is "
           f"{d['size_of_int8']:.2f}x the dense int8 file's gzip. Accuracy is on the run's test split; "
           "differences are paired (the same images), in points ± s.e. A candidate is eligible when the upper end "
           "of its p50's 95 % interval is under the budget. The hand baseline `dense int8` is the model as trained; "
           "`control-ft…` is the same model fine-tuned as many epochs as each pruned candidate, so the pick's edge over "
           "`dense int8` when the control wins is those epochs, and over the pruned candidates it is at equal "
           "compute.", ""]
    int8 = [c["p50_ms"] for b in d["budgets"] for c in b["record"]["candidates"]
            if c["format"] == "int8" and c.get("p50_ms") is not None]
    if int8:
        line = f"Every int8 file, dense or pruned, ran between {min(int8):.4f} and {max(int8):.4f} ms (p50)"
        if max(int8) < SMALL_SPREAD * min(int8):
            line += (f": within {max(int8) / min(int8):.2f}x of each other, whatever their widths: on this "
                     "machine removing filters bought the int8 files little speed")
        out += [line + ".", ""]
    summary = []
    for b in d["budgets"]:
        rec = b["record"]
        pick = rec.get("pick")
        rows = [[f"`{c['key']}`", _what(c), f"{c['predicted_ms']:.4f}" if c.get("predicted_ms") is not None else "-",
                 _p50(c.get("p50_ms"), c.get("p50_ci")),
                 f"{c['gzip_bytes'] / KB:.1f}" if c.get("gzip_bytes") is not None else "-", pct(c.get("accuracy")),
                 _points(c.get("vs_pick")), _outcome(c, pick)]
                for c in sorted(rec["candidates"], key=lambda c: (c["p50_ms"] is None, c["p50_ms"] or 0))]
        out += [f"### {b['name']}: {_budget(b)}", "",
                md_table(["candidate", "what", "predicted ms", "p50 ms [95 % CI]", "gzip kB", "acc %",
                          "vs pick (points)", "outcome"], rows), ""]
        pooled = sorted({tuple(sorted([c["key"], *c["timed_with"]])) for c in rec["candidates"] if c.get("timed_with")})
        if pooled:
            out += ["Timed as one graph (the same ops on the same shapes; their rounds pooled): "
                    + "; ".join(", ".join(f"`{k}`" for k in keys) for keys in pooled) + ".", ""]
        if not pick:
            out += [f"No pick: {rec.get('message')}", ""]
            continue
        if rec.get("tie"):
            out += [f"A tie: {rec.get('message')}", ""]
        rb = b.get("rebench")
        if rb:
            ok = rb["pick"]["p50_ms"] <= b["max_ms"]
            pci = rb["pick"].get("p50_ci")
            under = "" if not pci else (" (and its whole interval under it)" if pci[1] <= b["max_ms"] else
                                        f" (its interval's upper end, {pci[1]:.4f} ms, over it)")
            sp = rb.get("speedup_vs_dense_fp32") or {}
            ci = sp.get("ci95")
            out += [f"- The pick re-measured in a separate bench call ({rb['seconds']:.0f} s, beside the dense fp32 "
                    f"file): p50 {_p50(rb['pick']['p50_ms'], pci)} ms against a budget of "
                    f"{b['max_ms']:.4f} ms: {'met' if ok else 'not met'}{under}; "
                    f"{sp.get('median', float('nan')):.2f}x"
                    + (f" [{ci[0]:.2f}-{ci[1]:.2f}]" if ci else "") + " the speed of the dense fp32 file "
                    f"(p50 {_p50(rb['dense_fp32']['p50_ms'], rb['dense_fp32']['p50_ci'])} ms) in that call."]
            text = b["max_ms_text"]
            if text.endswith("x") and ci:
                need = 1 / float(text[:-1])
                verdict = ("met, its whole interval above it" if ci[0] >= need else
                           "met by the median, its interval reaching below" if sp["median"] >= need else "not met")
                out += [f"- As files measured side by side (the budget is {text} of the dense fp32 file; the "
                        f"machine's speed drifts between calls, a ratio in one call does not): the pick ran "
                        f"{sp['median']:.2f}x [{ci[0]:.2f}-{ci[1]:.2f}] the dense fp32 file's speed, against the "
                        f"{need:.2f}x asked: {verdict}."]
            for rep in d.get("rebench_repeated", []):
                if rep["budget"] == b["name"]:
                    f = rep["first"]
                    out += [f"- An earlier re-bench of a pick ({f['created']}), set aside and repeated: p50 "
                            f"{_p50(f['pick']['p50_ms'], f['pick']['p50_ci'])} ms, with the dense fp32 file at "
                            f"{_p50(f['dense_fp32']['p50_ms'], f['dense_fp32']['p50_ci'])} ms in the same call "
                            "(the machine ran slow for both)."]
        for name, base in b["baselines"].items():
            if base is None:
                out += [f"- Hand baseline {name}: none of its candidates meets the budget as measured"
                        + (" (latency and size)." if b.get("max_kb") is not None else ".")]
                continue
            if base["is_pick"]:
                out += [f"- Hand baseline {name} (`{base['key']}`, {pct(base['accuracy'])} %) is the pick."]
                continue
            out += [f"- Hand baseline {name} (`{base['key']}`, {pct(base['accuracy'])} %): the pick minus it "
                    f"{_points(base.get('vs_pick'), -1)} points: {_verdict(base)}."]
        if rec.get("seconds") is not None:
            cells = rec.get("cells_seconds")
            out += [f"- Wall time of the optimize: {rec['seconds']:.0f} s, training and timing included; its cells "
                    f"run one by one took {cells:.0f} s together (training and export), so the optimize's plan, "
                    f"bench and pick cost {rec['seconds'] - cells:.0f} s more." if cells is not None else
                    f"- Wall time of the optimize: {rec['seconds']:.0f} s."]
        out += [""]
        summary.append(b)
    return out
