"""A latency table read from a user (issue 27): a fitted line never predicts less than the table measured for a whole
model, an unreachable target names the smallest reachable latency, and tables with no segments or empty or unsorted
grids are refused when read. No TensorFlow except the prune test (a tiny trained run)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import assert_user_error, run_inproc

from edgeprune.errors import UserError
from edgeprune.latency.model import LatencyModel
from edgeprune.readers import read_latency_table


def tiny_table(path: Path, widths: dict[str, int] | None = None, image_size: int = 16) -> Path:
    """A chain of prunable layers (each segment 1 ms per output channel) and a classifier, whose whole models ran
    far below the segments' sum at small widths: the fitted line a + b * sum has a negative intercept."""
    widths = widths or {"c1": 4}
    names = list(widths)
    segs, files, rows = [], [], []
    for i, name in enumerate(names):
        cin_from = names[i - 1] if i else None
        cin_full = widths[cin_from] if cin_from else 3
        segs.append({"name": name, "producer": name, "cin_from": cin_from, "cin_full": cin_full,
                     "cout_full": widths[name], "cins": sorted({max(1, cin_full // 2), cin_full}),
                     "couts": sorted({max(1, widths[name] // 2), widths[name]})})
    last = names[-1]
    segs.append({"name": "tail:fc", "producer": None, "cin_from": last, "cin_full": widths[last], "cout_full": 3,
                 "cins": sorted({max(1, widths[last] // 2), widths[last]}), "couts": [3]})
    for s in segs:
        for cin in s["cins"]:
            for cout in s["couts"]:
                f = f"{s['name'].replace(':', '_')}_{cin}_{cout}.tflite"
                files.append({"file": f, "kind": "segment", "format": "fp32", "segment": s["name"], "cin": cin,
                              "cout": cout})
                rows.append({"file": f, "p50_ms": float(cout if s["producer"] else cin), "runs": 10})
    full = dict(widths)
    three = {n: max(1, (3 * w) // 4) for n, w in widths.items()}
    for k, (w, ms) in enumerate(((full, 7.0), (three, 1.0))):
        files.append({"file": f"v{k}.tflite", "kind": "variant", "format": "fp32", "widths": w, "role": "fit"})
        rows.append({"file": f"v{k}.tflite", "p50_ms": ms, "runs": 10})
    probe = {"kind": "edgeprune-latency-probe", "version": 1, "round_to": 1, "formats": ["fp32"], "segments": segs,
             "files": files, "model": {"run": "tiny", "image_size": image_size,
                                       "input_shape": [image_size, image_size, 3], "widths": widths}}
    doc = {"kind": "edgeprune-latency-table", "version": 1, "probe": probe, "threads": 2,
           "device": {"cpu": "synthetic"}, "runtime": {"name": "synthetic", "version": "0"}, "rows": rows}
    path.write_text(json.dumps(doc))
    return path


def test_predictions_never_fall_below_the_fastest_whole_model_measured(tmp_path):
    lat = LatencyModel(read_latency_table(tiny_table(tmp_path / "t.json")), "fp32")
    assert lat.a < 0  # the fitted line alone would predict negative time for small widths
    assert lat.a + lat.b * lat.raw({"c1": 1}) < 0
    assert lat.floor_ms == 1.0
    assert lat.predict({"c1": 1}) == 1.0 and lat.predict({"c1": 4}) == pytest.approx(7.0)


@pytest.mark.parametrize("change, needle", [
    (lambda d: d["probe"].update(segments=[]), "no segments"),
    (lambda d: d["probe"]["segments"][0].update(couts=[]), "couts"),
    (lambda d: d["probe"]["segments"][0].update(couts=[4, 2]), "couts"),
    (lambda d: d["probe"]["segments"][1].update(cins=[4, 4]), "cins"),
    (lambda d: d["probe"]["segments"].append(dict(d["probe"]["segments"][0])), "twice"),
    (lambda d: d["probe"]["segments"][1].update(cin_from="nowhere"), "nowhere"),
    (lambda d: d["probe"]["model"]["widths"].update(c1=-4), "widths"),
])
def test_tables_with_no_segments_or_bad_grids_are_refused_when_read(tmp_path, change, needle):
    path = tiny_table(tmp_path / "t.json")
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(UserError, match=needle):
        read_latency_table(path)
    assert_user_error(run_inproc("latency", "check", str(path)))


def test_an_unreachable_target_names_the_smallest_reachable_latency(tiny_run, tmp_path):
    run, _ = tiny_run
    widths = {"conv1": 4, "conv2": 4, "conv3": 8, "conv4": 8, "fc1": 8}
    table = tiny_table(tmp_path / "t.json", widths)
    lat = LatencyModel(read_latency_table(table), "fp32")
    assert lat.a + lat.b * lat.raw({n: 2 for n in widths}) < 0  # the fitted line alone: negative at the floor
    proc = run_inproc("prune", str(run.path), "--method", "filter", "--target-ms", "0.00001", "--latency-table",
                      str(table), "--epochs", "1", "-w", str(tmp_path), "--out", "p")
    assert_user_error(proc, "--target-ms 1e-05", f"{lat.floor_ms:.3f} ms")
    assert not (tmp_path / "p").exists()
