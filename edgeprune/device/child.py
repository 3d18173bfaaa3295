"""The one harness for the device side's child processes: `bench` (``device.worker``, one file per child) and
`latency measure` (``device.latency_worker``, several files per child) both start a worker here.

A worker is ``python -m MODULE SPEC.json OUT``: it reads its spec, writes its result to OUT and exits 0. Native code
runs only in the child, so a runtime that segfaults on a hostile file, or hangs on it, costs that child and never the
harness: a signal, an exit code or the timeout becomes one line of text (``ChildResult.failure``).
"""
from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import short


def crash_message(returncode: int) -> str:
    """What a child killed by a signal (negative return code) says of the file it was on."""
    try:
        sig = signal.Signals(-returncode).name
    except ValueError:
        sig = f"signal {-returncode}"
    return f"the runtime crashed ({sig}) on this file"


@dataclass
class ChildResult:
    output: str | None  # what the worker wrote to OUT (None: nothing, or not readable)
    returncode: int | None  # None: stopped at the timeout
    stderr_tail: str  # the last line of its stderr, shortened
    timeout_s: float

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    @property
    def crashed(self) -> bool:
        """Killed by a signal: the runtime died in native code."""
        return self.returncode is not None and self.returncode < 0

    def failure(self, what: str) -> str:
        """Why the child gave no result, in one line; ``what`` names the process ("measuring", "timing")."""
        if self.timed_out:
            return f"timed out after {self.timeout_s:.0f} s"
        if self.crashed:
            return crash_message(self.returncode)
        return f"the {what} process failed (exit {self.returncode}): {self.stderr_tail}"

    def json(self):
        """The output as one JSON value, or None when it is missing or not JSON."""
        try:
            return json.loads(self.output) if self.output is not None else None
        except ValueError:
            return None


def run_worker(module: str, spec: dict, timeout_s: float) -> ChildResult:
    """Run ``python -m module SPEC OUT`` with ``spec`` as SPEC, for at most ``timeout_s`` seconds."""
    with tempfile.TemporaryDirectory(prefix="edgeprune-child-") as tmp:
        spec_f, out_f = Path(tmp) / "spec.json", Path(tmp) / "out"
        spec_f.write_text(json.dumps(spec))
        # EDGEPRUNE_WORKER_PREFIX runs the worker through a launcher, e.g. "qemu-aarch64-static -L SYSROOT" when the
        # harness itself runs under user-mode emulation without binfmt_misc (devices/pi_check.py does this)
        prefix = shlex.split(os.environ.get("EDGEPRUNE_WORKER_PREFIX", ""))
        try:
            proc = subprocess.run([*prefix, sys.executable, "-m", module, str(spec_f), str(out_f)],
                                  capture_output=True, text=True, timeout=timeout_s)
            returncode, stderr = proc.returncode, proc.stderr
        except subprocess.TimeoutExpired:
            returncode, stderr = None, ""
        try:
            output = out_f.read_text() if out_f.is_file() else None
        except (OSError, UnicodeDecodeError):
            output = None
        return ChildResult(output, returncode, short(" ".join(stderr.strip().splitlines()[-1:])), timeout_s)
