"""Pruning methods are plug-ins: a method added through the registry alone runs through prune, export and report."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_user_error, run_inproc

from edgeprune import methods
from edgeprune.methods import PruningMethod, SummaryTable
from edgeprune.records.pruning import PruningRecord


class ZeroHalfOfFc1(PruningMethod):
    """Zero every other column of the hidden Dense layer: a method that exists only in this test (its descriptor)."""

    name = "zero-half-test"
    help = "zero every other output of fc1 (a test method)"
    marker = "P"

    def name_part(self, o) -> str:
        return "half"

    def report_fields(self, pruning) -> dict:
        z = pruning.extra["zero-half"]
        return {"target": 0.5, "ratio": z["zeroed"] / z["columns"]}

    def describe(self, pruning) -> list:
        z = pruning.extra["zero-half"]
        return [SummaryTable("zeroed", ["columns", "zeroed"], [[z["columns"], z["zeroed"]]])]


def _zero_half_impl():
    """Its implementation, in the workbench's registry under the same name."""
    from edgeprune.workbench.pruning.impl import Applied, Implementation

    class ZeroHalf(Implementation):
        name = "zero-half-test"

        def apply(self, model, job):
            layer = model.get_layer("fc1")
            k = layer.kernel.numpy()
            k[:, ::2] = 0
            layer.kernel.assign(k)
            section = {"columns": int(k.shape[1]), "zeroed": int(len(range(0, k.shape[1], 2)))}
            return Applied(model, PruningRecord(extra={"zero-half": section}))

        def finish(self, model, pruning, job):
            k = model.get_layer("fc1").kernel.numpy()
            pruning.extra["zero-half"]["zeros_after_finetuning"] = float(np.mean(k == 0))
            return pruning

    return ZeroHalf()


@pytest.fixture
def test_method():
    from edgeprune.workbench.pruning import impl

    m = methods.register(ZeroHalfOfFc1())
    impl.register(_zero_half_impl())
    yield m
    methods.unregister(m.name)
    impl.unregister(m.name)


def test_descriptors_and_implementations_name_the_same_methods():
    from edgeprune.workbench.pruning import impl

    assert methods.names() == impl.names()


def test_a_method_added_through_the_registry_runs_through_prune_and_report(tiny_run, tmp_path, test_method):
    from edgeprune.study.entries import load_inputs
    from edgeprune.study.report import write_report
    from edgeprune.workbench.export.bundle import ExportOptions, export
    from edgeprune.workspace import resolve_run

    run, ws = tiny_run
    proc = run_inproc("prune", "tiny", "--method", "zero-half-test", "--epochs", "1", "--batch-size", "16",
                      "-w", str(tmp_path / "ws"), "--quiet", cwd=ws)
    assert proc.returncode == 0, proc.stderr
    assert "zeroed" in proc.stdout  # the method's own summary table, printed by the CLI
    new = resolve_run("tiny-half", tmp_path / "ws")  # the default name carries the method's name part
    info = json.loads((new.path / "run.json").read_text())
    assert info["method"] == "zero-half-test" and info["pruning"]["zero-half"]["zeroed"] == 4
    assert 0 <= info["pruning"]["zero-half"]["zeros_after_finetuning"] <= 1  # finish() ran on the final model
    res = export(new, tmp_path / "ws", ExportOptions(formats=["fp32"], sparse="off", out=str(tmp_path / "b" / "half")))
    assert not res.failed
    entries, warnings, _ = load_inputs([tmp_path / "b"])
    assert not warnings and entries[0].method == "zero-half-test"
    assert entries[0].target == 0.5 and entries[0].ratio == 0.5
    rep = write_report(entries, tmp_path / "report", [])
    row = rep["rows"][0]
    assert row[1] == "zero-half-test" and row[2] == "0.5" and row[3] == "0.500"
    # a sweep cannot take it: it declares no value to sweep
    assert "zero-half-test" not in methods.swept()
    assert_user_error(run_inproc("sweep", "tiny", "--method", "zero-half-test", "-w", str(ws)), "--method")


def test_unknown_method_is_refused_and_registry_rejects_duplicates():
    with pytest.raises(Exception, match="--method must be one of"):
        methods.get("magic")
    with pytest.raises(ValueError):
        methods.register(ZeroHalfOfFc1.__mro__[1]())  # no name
    assert methods.names()[:4] == ["none", "weight", "filter", "hybrid"]


def test_hybrid_is_filter_then_weight():
    from edgeprune.options.prune import PruneOptions
    from edgeprune.pruner import default_name, validate
    from edgeprune.workbench.pruning import impl

    h = methods.get("hybrid")
    assert [s.name for s in h.steps] == ["filter", "weight"]
    assert [s.name for s in impl.get("hybrid").steps] == ["filter", "weight"]  # the work in the same order
    pruning = PruningRecord.from_dict({"filter": {"ratio": 0.3}, "weight": {"target_sparsity": 0.5, "sparsity": 0.5001}},
                                      "test")
    assert h.report_fields(pruning) == {"target": "0.3/0.5", "ratio": 0.3, "sparsity": 0.5001}
    o = PruneOptions(method="hybrid", ratio=0.3, sparsity=0.5, epochs=3)
    validate(o)  # real options, checked by both steps' descriptors
    assert default_name("base", o) == "base-f30-w50"
    o.steps = 3
    assert default_name("base", o) == "base-f30s3-w50"  # gradual filter removal is named, weight pruning is not
    assert h.takes_steps and not methods.get("weight").takes_steps
    with pytest.raises(Exception, match="--sparsity"):
        validate(PruneOptions(method="hybrid", ratio=0.3, epochs=3))  # the weight step's own check runs too


def test_outputs_default_under_the_workspace_and_out_takes_a_name_or_a_path(tmp_path):
    from edgeprune.workspace import output_folder, run_folder

    ws = tmp_path / "ws"
    assert run_folder(ws, None, "r1") == ws / "r1" and run_folder(ws, "r2", "x") == ws / "r2"
    assert run_folder(ws, str(tmp_path / "elsewhere" / "r3"), "x") == tmp_path / "elsewhere" / "r3"
    assert output_folder(ws, "export bundle", None, "r1") == ws.resolve() / "exports" / "r1"
    assert output_folder(ws, "sweep", "grid", "r1") == ws.resolve() / "sweeps" / "grid"
    assert output_folder(ws, "report", None, "report") == ws.resolve() / "reports" / "report"
    assert output_folder(ws, "report", "./mine", "report") == Path.cwd() / "mine"
    for bad in ("", "a b", "exports"):
        with pytest.raises(Exception):
            run_folder(ws, bad, "x")
