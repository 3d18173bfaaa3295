"""The device boundary, enforced: the device side never imports the workbench or TensorFlow (import-linter's
contract in pyproject.toml, which sees imports inside functions too), and the CLI's top level never loads TensorFlow."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

LINT = Path(sys.executable).parent / "lint-imports"
HEAVY = ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization")


def lint(cwd: Path) -> subprocess.CompletedProcess:
    """lint-imports on the package under ``cwd`` (its pyproject.toml's contracts, its edgeprune/ first on the path)."""
    return subprocess.run([str(LINT), str(cwd / "pyproject.toml"), "--no-cache", "--no-logo"], cwd=cwd,
                          env={"PATH": str(LINT.parent), "PYTHONPATH": str(cwd)}, capture_output=True, text=True,
                          timeout=300)


def test_the_import_contracts_hold():
    proc = lint(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "The device side never imports the workbench or TensorFlow KEPT" in proc.stdout
    assert "The workbench never imports the method descriptors KEPT" in proc.stdout


def test_the_contract_fails_on_a_deliberately_added_import(tmp_path):
    """A copy of the package with one import added inside a device function (where a convention would miss it)."""
    shutil.copytree(ROOT / "edgeprune", tmp_path / "edgeprune", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    victim = tmp_path / "edgeprune" / "device" / "intervals.py"
    victim.write_text(victim.read_text() + "\n\ndef _sneaky():\n    import tensorflow  # noqa: F401\n")
    proc = lint(tmp_path)
    assert proc.returncode != 0, proc.stdout
    assert "The device side never imports the workbench or TensorFlow BROKEN" in proc.stdout
    assert "edgeprune.device is not allowed to import tensorflow" in proc.stdout
    assert "edgeprune.device.intervals -> tensorflow" in proc.stdout  # the module and line that broke it
    victim.write_text(victim.read_text() + "\nfrom ..workbench import tf as _tf  # noqa: E402,F401\n")
    proc = lint(tmp_path)
    assert proc.returncode != 0 and "edgeprune.device.intervals -> edgeprune.workbench" in proc.stdout
    # imports in one direction: the workbench asking the descriptors breaks the second contract
    impl = tmp_path / "edgeprune" / "workbench" / "pruning" / "impl" / "none.py"
    impl.write_text(impl.read_text() + "\n\ndef _back():\n    from .... import methods  # noqa: F401\n")
    proc = lint(tmp_path)
    assert "The workbench never imports the method descriptors BROKEN" in proc.stdout
    assert "edgeprune.workbench.pruning.impl.none -> edgeprune.methods" in proc.stdout


def test_the_cli_top_level_never_loads_tensorflow():
    """Importing the CLI, `edgeprune --help` and `edgeprune bench --help` leave TensorFlow and Keras unloaded."""
    code = ("import sys\nfrom edgeprune.cli import app\n"
            f"HEAVY = {HEAVY!r}\n"
            "loaded = lambda: sorted(m for m in sys.modules if m.split('.')[0] in HEAVY)\n"
            "assert not loaded(), ('import', loaded())\n"
            "for args in (['--help'], ['bench', '--help']):\n"
            "    try:\n        app(args, standalone_mode=False)\n    except SystemExit:\n        pass\n"
            "    assert not loaded(), (args, loaded())\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "train" in proc.stdout and "bench" in proc.stdout and "--min-time" in proc.stdout
