"""LiteRT's quantizer (ai-edge-quantizer) as export formats: wi8, wi4, wi4-block32, a16w8 and mixed (issue 26)."""
from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest
from conftest import assert_user_error, run_cli, run_inproc

from edgeprune import formats
from edgeprune.errors import UserError
from edgeprune.workspace import Run

NEW = ["wi8", "wi4", "wi4-block32", "a16w8"]


# --- no model needed ------------------------------------------------------------------------------------------------

def test_a_missing_quantizer_is_a_one_line_error_naming_the_extra(monkeypatch):
    from edgeprune.workbench.export.quantize import check_options

    check_options(["fp32", "wi8"], None)  # installed: no error
    monkeypatch.setitem(sys.modules, "ai_edge_quantizer", None)  # `import ai_edge_quantizer` now raises ImportError
    with pytest.raises(UserError) as err:
        check_options(["fp32", "wi8", "wi4"], None)
    msg = str(err.value)
    assert "\n" not in msg and "wi8, wi4" in msg and "pip install 'edgeprune[train]'" in msg
    check_options(["fp32", "int8"], None)  # the converter's formats never need it


def test_mixed_and_max_kb_go_together():
    from edgeprune.workbench.export.quantize import check_options

    with pytest.raises(UserError, match="needs --max-kb"):
        check_options(["mixed"], None)
    with pytest.raises(UserError, match="mixed format only"):
        check_options(["wi8"], 100)
    for bad in (0, -3, float("nan"), float("inf")):
        with pytest.raises(UserError, match="positive"):
            check_options(["mixed"], bad)
    check_options(["mixed", "int8"], 12.5)


def test_new_formats_are_rows_of_the_table_and_recognised_by_file_name():
    for name in NEW + ["mixed"]:
        f = formats.get(name)
        assert f.quantizer and not f.sparse_allowed
        assert formats.from_file_name(f.file_name(False)[: -len(f.suffix)]) == (name, False)
    assert formats.get("wi4").weight_bits == 4 and formats.get("wi8").weight_bits == 8
    assert formats.order("fp32") < formats.order("wi4")


def test_size_floors_follow_each_format_bit_width():
    from edgeprune.workbench.metrics.size_floor import floor_bytes, stored_values
    from edgeprune.workbench.tf import keras

    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.layers.Input((64,)), keras.layers.Dense(16, name="a"), keras.layers.Dense(3, name="b")])
    k = m.get_layer("a").kernel.numpy()
    f8, f4, fb = (floor_bytes(m, f) for f in ("wi8", "wi4", "wi4-block32"))
    assert f4["naive_bound_bytes"] < 0.55 * f8["naive_bound_bytes"]
    # a: 64 inputs = 2 blocks of 32 per output, a float16 scale each; b (16 inputs) stays per channel
    assert fb["naive_bound_bytes"] - f4["naive_bound_bytes"] == 2 * (64 // 32) * 16
    q4 = stored_values(k, "wi4")
    assert q4.min() >= -8 and q4.max() <= 7 and len(np.unique(q4)) > 8
    assert np.unique(stored_values(k, "wi8")).size > np.unique(q4).size
    # mixed counts a layer at the bits it was given, the rest at int8
    mixed = floor_bytes(m, "mixed", {"a": 4})
    assert f4["entropy_floor_bytes"] < mixed["entropy_floor_bytes"] < f8["entropy_floor_bytes"]


def test_pick_never_lets_a_smaller_slower_file_win_a_latency_budget():
    from edgeprune.study.entries import Entry
    from edgeprune.study.report import pick

    def e(fmt, gz, acc, p50):
        x = Entry(bundle="dense", file=f"{fmt}.tflite", format=fmt, sparse=False, bytes=2 * gz, gzip_bytes=gz,
                  naive_bound_bytes=gz, accuracy=acc)
        x.latency["cpu, 2 thr"] = {"p50": p50, "p99": p50, "threads": 2}
        return x

    es = [e("fp32", 8_000_000, 0.80, 2.0), e("int8", 2_000_000, 0.80, 0.5), e("wi8", 2_100_000, 0.80, 0.6),
          e("wi4", 1_000_000, 0.81, 8.0)]  # int4: smallest, most accurate here, and 16x slower
    assert pick(es, 1.5, None, None).entry.format == "wi4"  # a size budget alone: it wins
    assert pick(es, 3, 1.0, None).entry.format == "int8"  # a latency budget: it cannot
    assert pick(es, 1.5, 1.0, None).entry is None


# --- a tiny model ---------------------------------------------------------------------------------------------------

def _copy_run(tiny_run, name, change) -> Run:
    from edgeprune.workbench.modelio import load_model, save_model

    run, ws = tiny_run
    dst = ws / name
    if not dst.exists():
        shutil.copytree(run.path, dst)
        save_model(change(load_model(dst / "model.keras")), dst / "model.keras")
    return Run(dst)


@pytest.mark.slow
def test_every_new_format_is_written_verified_and_benched(tiny_run, tmp_path):
    from edgeprune.workbench.export import bundle as ex

    out = tmp_path / "b"
    res = ex.export(tiny_run[0], tiny_run[1], ex.ExportOptions(formats=["fp32"] + NEW, sparse="on", calib=16,
                                                             out=str(out)))
    rows = {r.file: r for r in res.rows}
    assert not res.failed and set(rows) == {"fp32-sparse.tflite"} | {f"{n}.tflite" for n in NEW}, rows
    for n in NEW:
        r = rows[f"{n}.tflite"]
        assert r.kept and r.runs_xnnpack and r.runs_reference and r.error is None, r
        assert (out / r.file).is_file() and r.sparse is False  # --sparse on does not apply: never sparse-encoded
        assert r.input["dtype"] == "float32"  # a16w8 too: its int16 graph is wrapped in float32 in and out
        need = formats.get(n).agreement_required
        assert r.agreement is not None and (need is None or r.agreement >= need)
        assert r.extra["quantizer"]["recipe"] == formats.get(n).quantizer
        assert r.entropy_floor_bytes and r.naive_bound_bytes and r.gzip_bytes >= r.entropy_floor_bytes
    assert rows["wi4.tflite"].bytes < rows["wi8.tflite"].bytes < rows["fp32-sparse.tflite"].bytes
    assert rows["wi4.tflite"].naive_bound_bytes < 0.55 * rows["wi8.tflite"].naive_bound_bytes
    doc = json.loads((out / "export.json").read_text())
    assert {f["file"]: f["quantizer"]["recipe"] for f in doc["files"] if "quantizer" in f}.keys() == {f"{n}.tflite" for n in NEW}

    # the quantizer missing: export refuses at once, in one line naming the extra to install
    mp = pytest.MonkeyPatch()
    mp.setitem(sys.modules, "ai_edge_quantizer", None)
    try:
        with pytest.raises(UserError, match=r"pip install 'edgeprune\[train\]'"):
            ex.export(tiny_run[0], tiny_run[1], ex.ExportOptions(formats=["wi4"], out=str(tmp_path / "none")))
    finally:
        mp.undo()
    assert not (tmp_path / "none").exists()

    bench = tmp_path / "bench.json"
    files = [str(out / f"{n}.tflite") for n in ["fp32-sparse"] + NEW]
    proc = run_cli("bench", "--min-time", "0", *files, "--runs", "5", "--rounds", "1", "--warmup", "1", "--json", str(bench))
    assert proc.returncode == 0, proc.stderr
    got = {r["model"].split("/")[-1]: r for r in json.loads(bench.read_text())["results"]}
    for n in NEW:
        r = got[f"{n}.tflite"]
        assert r["format"] == n and r["error"] is None and r["latency_ms"]["p50"] > 0
        assert r["accuracy"] == pytest.approx(rows[f"{n}.tflite"].accuracy)


@pytest.mark.slow
def test_mixed_chooses_int4_layers_under_the_size_and_records_them(tiny_run, tmp_path):
    from edgeprune.workbench.export import bundle as ex

    run, ws = tiny_run
    both = ex.export(run, ws, ex.ExportOptions(formats=["wi8", "wi4"], calib=16, out=str(tmp_path / "ref")))
    g8, g4 = (next(r.gzip_bytes for r in both.rows if r.format == f) for f in ("wi8", "wi4"))
    target_kb = (g4 + 0.35 * (g8 - g4)) / 1024  # between all-int4 and all-int8: some layers must go to int4
    res = ex.export(run, ws, ex.ExportOptions(formats=["mixed"], calib=16, max_kb=target_kb, out=str(tmp_path / "m")))
    row = res.rows[0]
    assert row.kept and row.gzip_bytes <= target_kb * 1024 and row.runs_xnnpack
    info = json.loads((tmp_path / "m" / "export.json").read_text())["files"][0]["quantizer"]["mixed"]
    bits = {L["layer"]: L["bits"] for L in info["layers"]}
    assert set(bits.values()) == {4, 8} and info["val_images"] > 0  # some, not all: the target lies between
    assert info["gzip_bytes"] == row.gzip_bytes
    chosen = [L for L in info["layers"] if L["bits"] == 4]
    assert {L["op_index"] for L in chosen} == set(info["order"])
    assert all(L["damage"] >= 0 for L in info["layers"])
    assert sum(L["saved_gzip_bytes"] for L in chosen) > 0
    # every layer put in int4 cost no more damage per byte saved than any layer left in int8
    rate = lambda L: L["damage"] / max(1, L["saved_gzip_bytes"])  # noqa: E731
    assert max(map(rate, chosen)) <= min(rate(L) for L in info["layers"] if L["bits"] == 8)
    # the floor counts the int4 layers at half a byte: below the all-int8 file's
    assert row.naive_bound_bytes < next(r.naive_bound_bytes for r in both.rows if r.format == "wi8")

    # nothing reaches 1 kB: one line giving the smallest size reachable, through the command line
    proc = run_inproc("export", str(run.path), "--formats", "mixed", "--max-kb", "1", "--out", str(tmp_path / "x"),
                      "-w", str(ws), "--quiet")
    assert_user_error(proc, "--max-kb 1", "smallest reachable", f"{g4 / 1024:.1f} kB")
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_weight_and_filter_pruned_models_export_to_wi8_and_wi4(tiny_run, tmp_path):
    from edgeprune.workbench.export import bundle as ex
    from edgeprune.workbench.pruning.filters.plan import FilterPlan, apply

    def zero(m, sparsity=0.9):
        for layer in m.layers:
            if hasattr(layer, "kernel"):
                k = layer.kernel.numpy()
                k[np.abs(k) < np.quantile(np.abs(k), sparsity)] = 0
                layer.kernel.assign(k)
        return m

    weight = _copy_run(tiny_run, "q-weight90", zero)
    filt = _copy_run(tiny_run, "q-filter50", lambda m: apply(m, FilterPlan(ratio=0.5)).model)
    dense = ex.export(tiny_run[0], tiny_run[1], ex.ExportOptions(formats=["wi4"], out=str(tmp_path / "d"))).rows[0]
    for run in (weight, filt):
        res = ex.export(run, tiny_run[1], ex.ExportOptions(formats=["wi8", "wi4"], calib=16, out=str(tmp_path / run.name)))
        assert not res.failed and all(r.kept and r.runs_xnnpack for r in res.rows), res.rows
        wi4 = next(r for r in res.rows if r.format == "wi4")
        assert wi4.gzip_bytes < dense.gzip_bytes  # fewer filters, or zeros that gzip takes, make the int4 file smaller
    assert next(r for r in res.rows if r.format == "wi4").bytes < dense.bytes  # filter-pruned: smaller raw file too


def test_an_all_zero_block_or_channel_still_loads_in_xnnpack_with_the_same_outputs():
    """Weight pruning zeroes whole blocks of 32 inputs; the quantizer gives them a scale of 0, which XNNPACK refuses.
    The export replaces such a scale: the file loads with XNNPACK and computes what the reference kernels compute."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from edgeprune.workbench.export import quantize as q
    from edgeprune.workbench.tf import keras, tf

    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.layers.Input((64,)), keras.layers.Dense(8)])
    w, b = m.layers[0].get_weights()
    w[:32, 3] = 0.0  # one block of output 3
    w[:, 5] = 0.0  # all of output 5: a zero channel
    b = np.linspace(-0.5, 0.5, 8).astype(np.float32)
    m.layers[0].set_weights([w, b])
    fp32 = tf.lite.TFLiteConverter.from_keras_model(m).convert()
    x = np.random.RandomState(1).randn(3, 64).astype(np.float32)

    def outputs(blob, delegate):
        kind = OpResolverType.AUTO if delegate else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        it = Interpreter(model_content=blob, experimental_op_resolver_type=kind)
        it.allocate_tensors()
        i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
        rows = []
        for k in range(len(x)):
            it.set_tensor(i, x[k : k + 1])
            it.invoke()
            rows.append(it.get_tensor(o).copy())
        return np.concatenate(rows)

    # the quantizer gives an all-zero block a scale of 0 (an all-zero channel gets a tiny positive one)
    raw = q._quantizer_file(fp32, q._recipe("wi4-block32", fp32))
    with pytest.raises(RuntimeError, match="scale"):
        outputs(raw, delegate=True)
    for fmt in ("wi4-block32", "wi4", "wi8"):
        blob = q.quantize(fp32, fmt)
        ref = outputs(blob, delegate=False)
        # XNNPACK quantizes the activations on the fly its own way: close, not equal
        np.testing.assert_allclose(outputs(blob, delegate=True), ref, atol=0.05)
        np.testing.assert_allclose(ref[:, 5], b[5], atol=1e-6)  # the zero channel gives its bias alone
        if fmt == "wi4-block32":
            np.testing.assert_allclose(outputs(raw, delegate=False), ref, atol=1e-6)  # the same numbers as before
