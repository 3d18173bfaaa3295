"""What device a benchmark ran on: CPU, cores, architecture, OS, Raspberry Pi model, temperature, throttling.

A CPU's name does not tell CPUs apart: "AMD EPYC" has named a Zen 4 at 2.6 GHz and a CPU more than twice as fast
(../shared/notes). So a device also records what does: the vendor and family/model/stepping (x86) or the Arm
implementer and part, the instruction-set extensions the runtime's kernels are chosen by, and the clock where it can
be read. ``device_mismatch`` compares two devices on what matters and names the first difference.
"""
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


def cpu_model(cpuinfo: str | None = None) -> str:
    text = (_read("/proc/cpuinfo") or "") if cpuinfo is None else cpuinfo
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


def device_info(cpuinfo: str | None = None, max_freq_khz: str | None = None) -> dict:
    """This device; ``cpuinfo`` (the text of /proc/cpuinfo) and ``max_freq_khz`` (cpufreq's cpuinfo_max_freq) stand
    in for the files, for tests."""
    text = (_read("/proc/cpuinfo") or "") if cpuinfo is None else cpuinfo
    if max_freq_khz is None:
        max_freq_khz = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    return {
        "hostname": platform.node(),
        "machine": platform.machine(),
        "cpu": cpu_model(text),
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "pi_model": _read("/proc/device-tree/model"),
        "emulated": bool(os.environ.get("EDGEPRUNE_EMULATED")),
        **cpu_identity(text, max_freq_khz),
    }


# Instruction-set extensions that select a runtime's kernels (XNNPACK: AVX2/FMA, AVX-512, VNNI for int8 on x86;
# NEON, fp16 arithmetic, dot product, i8mm, SVE on Arm), as /proc/cpuinfo spells them in "flags" or "Features"
ISA_FLAGS = ("sse4_1", "sse4_2", "avx", "fma", "f16c", "avx2", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
             "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16",
             "neon", "vfpv4", "asimd", "asimdhp", "fphp", "asimddp", "i8mm", "bf16", "sve", "sve2", "sme")
ARM_IMPLEMENTERS = {"0x41": "Arm", "0x42": "Broadcom", "0x48": "HiSilicon", "0x4e": "NVIDIA", "0x51": "Qualcomm",
                    "0x61": "Apple", "0xc0": "Ampere"}
ARM_PARTS = {"0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57",
             "0xd08": "Cortex-A72", "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76",
             "0xd0c": "Neoverse-N1", "0xd0d": "Cortex-A77", "0xd40": "Neoverse-V1", "0xd41": "Cortex-A78",
             "0xd44": "Cortex-X1", "0xd49": "Neoverse-N2", "0xd4f": "Neoverse-V2"}  # implementer 0x41's parts


def _fields(cpuinfo: str) -> dict[str, list[str]]:
    """Every value of every key of /proc/cpuinfo, in order (one per core for the per-core keys)."""
    out: dict[str, list[str]] = {}
    for line in cpuinfo.splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def _int(text: str | None, base: int = 10) -> int | None:
    try:
        return int(text, base) if text is not None else None
    except ValueError:
        return None


def cpu_identity(cpuinfo: str, max_freq_khz: str | None = None) -> dict:
    """What tells CPUs apart, from the text of /proc/cpuinfo: vendor, family/model/stepping (x86) or the Arm
    implementer and part(s) (several on big.LITTLE), the ISA flags in ISA_FLAGS it has, and the clock (max: cpufreq,
    MHz: "cpu MHz", which a VM reports as its nominal clock). A key /proc/cpuinfo lacks is None: unknown."""
    f = _fields(cpuinfo)
    first = lambda key: (f.get(key) or [None])[0]  # noqa: E731
    impl = first("CPU implementer")
    parts = list(dict.fromkeys(p.lower() for p in f.get("CPU part", [])))
    flags = set((first("flags") or first("Features") or "").split())
    mhz = first("cpu MHz")
    try:
        mhz = round(float(mhz), 1) if mhz is not None else None
    except ValueError:
        mhz = None
    max_khz = _int(max_freq_khz.strip() if max_freq_khz else None)
    vendor = first("vendor_id") or (ARM_IMPLEMENTERS.get(impl.lower(), impl) if impl else None)
    return {
        "cpu_vendor": vendor,
        "cpu_family": _int(first("cpu family")),
        "cpu_model": _int(first("model")),
        "cpu_stepping": _int(first("stepping")),
        "cpu_implementer": impl.lower() if impl else None,
        "cpu_part": ",".join(parts) or None,
        "cpu_core": ",".join(ARM_PARTS.get(p, p) for p in parts) if impl and impl.lower() == "0x41" and parts else None,
        "isa": sorted(flags & set(ISA_FLAGS)) if flags else None,
        "max_mhz": round(max_khz / 1000.0, 1) if max_khz else None,
        "mhz": mhz,
    }


def cpu_id(dev: dict | None) -> str | None:
    """The CPU's identity in a few words ("AuthenticAMD family 25 model 17 stepping 1", "Arm Cortex-A72 (0xd08)"),
    or None for a device recorded by an edgeprune that did not record it."""
    dev = dev or {}
    if dev.get("cpu_family") is not None or dev.get("cpu_model") is not None:
        return (f"{dev.get('cpu_vendor') or '?'} family {dev.get('cpu_family')} model {dev.get('cpu_model')}"
                + (f" stepping {dev['cpu_stepping']}" if dev.get("cpu_stepping") is not None else ""))
    if dev.get("cpu_part"):
        core = f"{dev['cpu_core']} " if dev.get("cpu_core") else ""
        return f"{dev.get('cpu_vendor') or dev.get('cpu_implementer') or '?'} {core}({dev['cpu_part']})"
    return None


def device_summary(dev: dict) -> str:
    """The device in one line: its CPU's name and identity, architecture, cores, clock and Pi model."""
    parts = [cpu_id(dev), dev.get("machine"), f"{dev.get('cores')} cores",
             f"{dev['max_mhz']:.0f} MHz max" if dev.get("max_mhz") else None, dev.get("pi_model")]
    return f"{dev.get('cpu')} ({', '.join(str(p) for p in parts if p)})"


def _identified(dev: dict) -> bool:
    return cpu_id(dev) is not None


def device_mismatch(a: dict | None, b: dict | None, names: tuple[str, str] = ("the first", "the second")) -> str | None:
    """The first difference between two devices that changes a latency, as "what: A on <first>, B on <second>",
    or None. A field either record lacks (an older edgeprune's) is unknown and never a difference, except the CPU's
    identity itself: a record with only the CPU's name against one with its family/model or Arm part cannot be told
    apart from another CPU of that name, and that is said (measure again with this edgeprune)."""
    a, b = a or {}, b or {}
    na, nb = names

    def differ(what: str, va, vb) -> str | None:
        if va is None or vb is None or va == vb:
            return None
        return f"{what}: {va} on {na}, {vb} on {nb}"

    isa_a, isa_b = a.get("isa"), b.get("isa")
    isa = None
    if isa_a is not None and isa_b is not None and set(isa_a) != set(isa_b):
        only_a, only_b = sorted(set(isa_a) - set(isa_b)), sorted(set(isa_b) - set(isa_a))
        isa = "ISA flags: " + "; ".join(
            [f"{', '.join(only_a)} only on {na}"] * bool(only_a) + [f"{', '.join(only_b)} only on {nb}"] * bool(only_b))
    fm = lambda d: (f"{d['cpu_family']}/{d['cpu_model']}"  # noqa: E731
                    if d.get("cpu_family") is not None and d.get("cpu_model") is not None else None)
    part = lambda d: (f"{d['cpu_implementer'] or '?'}/{d['cpu_part']}"  # noqa: E731
                      + (f" ({d['cpu_core']})" if d.get("cpu_core") else "") if d.get("cpu_part") else None)
    for diff in (differ("CPU vendor", a.get("cpu_vendor"), b.get("cpu_vendor")),
                 differ("CPU family/model", fm(a), fm(b)),
                 differ("Arm implementer/part", part(a), part(b)),
                 isa,
                 differ("Raspberry Pi", a.get("pi_model"), b.get("pi_model")),
                 differ("architecture", a.get("machine"), b.get("machine")),
                 differ("emulated", a.get("emulated"), b.get("emulated")),
                 differ("cores", a.get("cores"), b.get("cores"))):
        if diff:
            return diff
    if a.get("pi_model") and b.get("pi_model"):
        return None  # the same Pi model: the same SoC
    if _identified(a) != _identified(b):
        old, cpu = (na, a.get("cpu")) if not _identified(a) else (nb, b.get("cpu"))
        return (f"CPU identity: {old} records only the CPU's name ({cpu!r}), not its family/model or Arm part, so "
                "it cannot be told from another CPU of that name; measure it again with this edgeprune")
    if not _identified(a):  # two older records: their names are all there is
        return differ("CPU", a.get("cpu"), b.get("cpu"))
    return None


def device_label(dev: dict | None, threads=None) -> str:
    """A device (as ``device_info`` describes it) in a few words: the Pi model or CPU, emulated or not, threads."""
    dev = dev or {}
    name = dev.get("pi_model") or dev.get("cpu") or dev.get("machine") or "unknown"
    name = " ".join(str(name).split())
    if dev.get("emulated"):
        name += " (emulated)"
    return f"{name}, {threads} thr" if threads else name
