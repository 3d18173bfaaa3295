"""What device a benchmark ran on: CPU, cores, architecture, OS, Raspberry Pi model, temperature, throttling."""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(errors="replace").strip("\x00\n ")
    except OSError:
        return None


def cpu_model() -> str:
    text = _read("/proc/cpuinfo") or ""
    for key in ("model name", "Hardware", "Model", "cpu model"):
        for line in text.splitlines():
            if line.lower().startswith(key.lower()) and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_temperature_c() -> float | None:
    """The first thermal zone's temperature (the SoC on a Pi), or None where the device does not report it."""
    for zone in sorted(Path("/sys/class/thermal").glob("thermal_zone*")):
        raw = _read(str(zone / "temp"))
        if raw and raw.lstrip("-").isdigit():
            return int(raw) / 1000.0
    return None


def throttled() -> str | None:
    """Raspberry Pi firmware's throttling flags (`vcgencmd get_throttled`), e.g. '0x0' when all is well."""
    if not shutil.which("vcgencmd"):
        return None
    try:
        out = subprocess.run(["vcgencmd", "get_throttled"], capture_output=True, text=True, timeout=5).stdout
        return out.strip().split("=", 1)[-1] or None
    except (OSError, subprocess.SubprocessError):
        return None


def device_info() -> dict:
    return {
        "hostname": platform.node(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "pi_model": _read("/proc/device-tree/model"),
        "emulated": bool(os.environ.get("EDGEPRUNE_EMULATED")),
    }


def device_label(dev: dict | None, threads=None) -> str:
    """A device (as ``device_info`` describes it) in a few words: the Pi model or CPU, emulated or not, threads."""
    dev = dev or {}
    name = dev.get("pi_model") or dev.get("cpu") or dev.get("machine") or "unknown"
    name = " ".join(str(name).split())
    if dev.get("emulated"):
        name += " (emulated)"
    return f"{name}, {threads} thr" if threads else name
