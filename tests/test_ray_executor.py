"""Sweeps on Ray (issue 15): the same rows as the local executor, a dead worker retried, a failing cell recorded,
an interrupted driver resumed. Each Ray instance runs inside a fresh network namespace with only loopback
(`unshare -n`, then `ip link set lo up`), so nothing leaves the machine; every wait is bounded."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

from edgeprune.errors import UserError

GRID = ["--method", "filter", "--values", "0.05,0.5", "--control", "--epochs", "2", "--lr", "3e-3", "--batch-size", "16"]
CELLS = {"dense", "control-ft2", "filter-05", "filter-50"}  # filter-05 keeps every filter of the tiny model: it fails
SAME_THREADS = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1"}


def _netns_problem() -> str | None:
    if find_spec("ray") is None:
        return "ray is not installed (pip install 'edgeprune[ray]'; `make test` installs it)"
    if not shutil.which("unshare") or not shutil.which("ip"):
        return "unshare or ip is missing"
    p = subprocess.run(["unshare", "-n", "sh", "-c", "ip link set lo up"], capture_output=True, text=True)
    if p.returncode != 0:
        return f"cannot make a network namespace here (needs root): {p.stderr.strip()[:120]}"
    return None


needs_netns = pytest.mark.skipif(_netns_problem() is not None, reason=str(_netns_problem()))


def netns_cmd(*args: str) -> list[str]:
    """`python -m edgeprune ARGS` in a new network namespace that has only loopback, up."""
    return ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", sys.executable, "-m", "edgeprune", *args]


def with_ray_head(cmd: list[str], port: int, resource: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``cmd`` in a new network namespace (loopback only) beside a Ray head started there with `ray start`, as a
    user would, holding one unit of the custom ``resource``; the head is stopped when the command ends, however."""
    ray_bin = str(Path(sys.executable).parent / "ray")
    script = (f"ip link set lo up && trap '{ray_bin} stop --force >/dev/null 2>&1' EXIT && "
              f"{ray_bin} start --head --port {port} --num-cpus 2 --resources '{{\"{resource}\": 1}}' "
              "--include-dashboard=false --disable-usage-stats >/dev/null 2>&1 && \"$@\"")
    return subprocess.run(["unshare", "-n", "sh", "-c", script, "sh", *cmd], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})


def rows(folder: Path) -> dict[str, dict]:
    out = {}
    for line in (folder / "results.jsonl").read_text().splitlines():
        d = json.loads(line)
        out[d["cell"]] = d
    return out


def test_unreachable_cluster_is_refused_at_once(monkeypatch):
    from edgeprune.study.executors import ray_cluster
    from edgeprune.study.executors.ray_cluster import probe

    with pytest.raises(UserError, match="cannot reach the Ray cluster at 127.0.0.1:1"):
        probe("127.0.0.1:1", timeout_s=5)  # a real refused connection on loopback
    calls = []

    def unreachable(addr, timeout):
        calls.append((addr, timeout))
        raise TimeoutError("timed out")

    # one bounded TCP connect decides it (not Ray's minutes of retries): no clock to race, the call is counted
    monkeypatch.setattr(ray_cluster.socket, "create_connection", unreachable)
    with pytest.raises(UserError, match="cannot reach the Ray cluster at 10.9.9.9:6379"):
        probe("10.9.9.9:6379", timeout_s=5)
    assert calls == [(("10.9.9.9", 6379), 5)]
    with pytest.raises(UserError, match="HOST:PORT"):
        probe("no-port-here")


@pytest.mark.ray  # it starts Ray: `make test` runs it with the other Ray tests, alone
@needs_netns
def test_ray_sweep_matches_local_retries_a_dead_worker_and_records_a_failed_cell(tiny_run, tmp_path):
    run, _ = tiny_run
    env = {**os.environ, **SAME_THREADS}
    local = subprocess.run([sys.executable, "-m", "edgeprune", "sweep", str(run.path), *GRID, "-w", str(tmp_path / "lw"),
                            "--out", str(tmp_path / "local"), "-q"], env=env, capture_output=True, text=True, timeout=600)
    assert local.returncode == 1, local.stderr  # one failed cell: the sweep says so
    marker = tmp_path / "killed-once"
    env["EDGEPRUNE_FAULT_KILL_ONCE"] = f"filter-50@{marker}"
    ray = subprocess.run(netns_cmd("sweep", str(run.path), *GRID, "-w", str(tmp_path / "rw"), "--out",
                                   str(tmp_path / "ray"), "--executor", "ray", "--cpus-per-cell", "1", "-q"),
                         env=env, capture_output=True, text=True, timeout=600)
    assert ray.returncode == 1, ray.stderr
    assert "Traceback" not in ray.stdout + ray.stderr
    assert marker.is_file()  # the worker running filter-50 did die once
    lr, rr = rows(tmp_path / "local"), rows(tmp_path / "ray")
    assert set(lr) == set(rr) == CELLS
    assert "remove no filter" in lr["filter-05"]["error"] and "remove no filter" in rr["filter-05"]["error"]
    assert rr["filter-50"]["attempts"] == 2 and rr["control-ft2"]["attempts"] == 1
    assert {r["executor"] for r in rr.values()} == {"ray"}
    for key in CELLS - {"filter-05"}:
        a, b = lr[key], rr[key]
        for k in ("sparsity", "params", "nonzero_params", "macs", "fp32_gzip_bytes"):
            assert a[k] == b[k], (key, k, a[k], b[k])
        for k in ("val_accuracy", "test_accuracy"):
            assert a[k] == pytest.approx(b[k], abs=1e-6), (key, k)
        assert [f["file"] for f in a["files"] if f["kept"]] == [f["file"] for f in b["files"] if f["kept"]]
        assert b["bundles"] == [str((tmp_path / "ray" / "exports" / key).resolve())]
        assert (tmp_path / "ray" / "exports" / key / "export.json").is_file()
    # the landed run is a normal run of the driver's workspace, its paths the driver's, not the worker's
    landed = json.loads((tmp_path / "rw" / f"{run.name}-filter-50" / "run.json").read_text())
    assert landed["parent"]["path"] == str(run.path.resolve())
    assert "edgeprune-cell-" not in (tmp_path / "ray" / "exports" / "filter-50" / "model.json").read_text()


@pytest.mark.ray  # it starts Ray: `make test` runs it with the other Ray tests, alone
@needs_netns
def test_interrupted_ray_sweep_resumes(tiny_run, tmp_path):
    run, _ = tiny_run
    grid = ["--method", "weight,filter", "--values", "0.5", "--epochs", "1", "--lr", "3e-3", "--batch-size", "16"]
    out = tmp_path / "sweep"
    args = netns_cmd("sweep", str(run.path), *grid, "-w", str(tmp_path / "ws"), "--out", str(out), "--executor", "ray",
                     "-q")
    # Ctrl-C at a point the test chooses: the driver sends itself SIGINT right after its first row is appended
    env = {**os.environ, "EDGEPRUNE_TEST_INTERRUPT_AFTER": "1"}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    results = out / "results.jsonl"
    try:
        _, err = proc.communicate(timeout=500)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    first = rows(out)
    assert len(first) == 1  # interrupted after its first row: the other cells were left to the resume
    again = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    lines = results.read_text().splitlines()
    final = rows(out)
    assert set(final) == {"dense", "weight-50", "filter-50"}
    assert len(lines) == 3  # the rerun ran only the cells the interrupted one had not finished
    for key, row in first.items():
        assert final[key] == row


def test_executor_options_are_checked_before_any_cell():
    from edgeprune.study import executors
    from edgeprune.study.sweep import SweepOptions

    with pytest.raises(UserError, match="--bench-on applies to --executor ray"):
        executors.get("local").check(SweepOptions(bench_on="pi5"))
    with pytest.raises(UserError, match="unknown --executor 'dask'"):
        executors.get("dask")
    if find_spec("ray") is not None:
        ray = executors.get("ray")
        with pytest.raises(UserError, match="pass --bench with it"):
            ray.check(SweepOptions(executor="ray", bench_on="pi5"))
        with pytest.raises(UserError, match="--cpus-per-cell"):
            ray.check(SweepOptions(executor="ray", cpus_per_cell=0))
        assert ray.thread_env(2.5)["TF_NUM_INTRAOP_THREADS"] == "2"


@pytest.mark.ray  # it starts Ray: `make test` runs it with the other Ray tests, alone
@needs_netns
def test_sweep_on_a_started_cluster_times_files_on_the_bench_resource(tiny_run, tmp_path):
    """A head started with `ray start` (as a user would), joined by --address; --bench-on sends the timing to the
    node that holds the custom resource, and the rows come back with the driver's paths."""
    run, _ = tiny_run
    sweep = [sys.executable, "-m", "edgeprune", "sweep", str(run.path), "--method", "weight", "--values", "0.5",
             "--epochs", "1", "--batch-size", "16", "--bench", "--runs", "5", "--executor", "ray", "--address",
             "127.0.0.1:6399", "--bench-on", "benchbox", "-w", str(tmp_path / "ws"), "--out", str(tmp_path / "sw"), "-q"]
    proc = with_ray_head(sweep, 6399, "benchbox")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rr = rows(tmp_path / "sw")
    assert set(rr) == {"dense", "weight-50"}
    for key, row in rr.items():
        bundle = (tmp_path / "sw" / "exports" / key).resolve()
        assert row["bench"] and all(b["error"] is None for b in row["bench"])
        assert {str(Path(b["model"]).parent) for b in row["bench"]} == {str(bundle)}
        assert all(b["device"] and b["latency_ms"]["p50"] > 0 for b in row["bench"])
    report = subprocess.run([sys.executable, "-m", "edgeprune", "report", str(tmp_path / "sw" / "results.jsonl"),
                             "--out", str(tmp_path / "rep")], capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr
    assert "p50 ms [" in (tmp_path / "rep" / "report.md").read_text()
