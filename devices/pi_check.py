"""`make pi-check`: prove the Raspberry Pi path on emulated 64-bit Arm.

Builds (or re-uses, in .cache/pi-check/) an aarch64 Debian sysroot with CPython 3.11 and aarch64 wheels of
edgeprune's device side, runs `edgeprune bench` under qemu-user on a bundle exported on this workbench, and checks
that the emulated run reports aarch64, never imports TensorFlow, and scores the same accuracy as x86 (and the
same top-1 on every image for fp32). Emulated timings mean nothing and are not reported.

    .venv/bin/python devices/pi_check.py [--bundle DIR] [--litert 2.1.6]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from edgeprune.errors import short

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "pi-check"
# Debian bookworm arm64 packages that CPython 3.11 and the LiteRT wheel need at run time
DEBS = ["libc6", "libgcc-s1", "libstdc++6", "zlib1g", "libssl3", "libffi8", "libexpat1", "libbz2-1.0", "liblzma5",
        "libsqlite3-0", "libncursesw6", "libtinfo6", "libreadline8", "libuuid1", "libdb5.3", "libcrypt1",
        "libnsl2", "libtirpc3", "libgssapi-krb5-2", "libkrb5-3", "libk5crypto3", "libkrb5support0", "libcom-err2",
        "libkeyutils1", "libzstd1", "media-types", "python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib",
        "python3.11"]
# ai-edge-litert 2.2.0 and 2.3.0 segfault in Interpreter() under qemu 7.2 (../shared/notes); 2.1.6 runs there
DEFAULT_LITERT = "2.1.6"
DEVICE_PACKAGES = ["numpy", "pillow", "typer", "rich"]
# Emulate the Pi's own cores. qemu's default CPU model ("max": SVE, i8mm, ...) is no Pi, and under it XNNPACK's
# int8 kernels of LiteRT 2.1.6 returned one class for every image, while the reference kernels, x86, and the
# cortex-a72/a76 models all agreed (measured here with qemu 7.2).
CPUS = {"cortex-a76": "Raspberry Pi 5", "cortex-a72": "Raspberry Pi 4"}
# a format of LiteRT's quantizer (issue 26): it must load and run on the pinned aarch64 runtime; its accuracy is
# reported beside x86's, not required equal (dynamic int8 activations may round otherwise on other kernels)
QUANTIZER_FORMATS = ("wi8",)


class CheckError(Exception):
    pass


def run(cmd, what: str, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        tail = short(" ".join((p.stderr or p.stdout).strip().splitlines()[-1:]))
        raise CheckError(f"{what} failed: {tail}")
    return p


def qemu() -> str:
    exe = shutil.which("qemu-aarch64-static")
    if exe:
        return exe
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing qemu-user-static (apt-get) ...", flush=True)
        run(["apt-get", "install", "-y", "-qq", "qemu-user-static"], "apt-get install qemu-user-static",
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        exe = shutil.which("qemu-aarch64-static")
    if not exe:
        raise CheckError("qemu-aarch64-static is missing; install it with `apt-get install qemu-user-static`")
    return exe


def sysroot() -> Path:
    root = CACHE / "sysroot"
    if (root / "usr" / "bin" / "python3.11").is_file() and (CACHE / "sysroot.ok").is_file():
        return root
    debs = CACHE / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    if "arm64" not in run(["dpkg", "--print-foreign-architectures"], "dpkg").stdout.split():
        run(["dpkg", "--add-architecture", "arm64"], "dpkg --add-architecture arm64")
        run(["apt-get", "update", "-qq"], "apt-get update (arm64 package lists)")
    for name in DEBS:
        if not list(debs.glob(f"{name}_*_arm64.deb")) and not list(debs.glob(f"{name}_*_all.deb")):
            try:
                run(["apt-get", "download", "-qq", f"{name}:arm64" if name != "media-types" else name], f"download of {name}:arm64", cwd=debs)
            except CheckError:
                raise CheckError(f"could not download the arm64 package {name} (apt-get download {name}:arm64); "
                                 "check `dpkg --add-architecture arm64 && apt-get update`") from None
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for deb in sorted(debs.glob("*.deb")):
        run(["dpkg", "-x", str(deb), str(root)], f"unpacking {deb.name}")
    (CACHE / "sysroot.ok").write_text("ok\n")
    return root


def site(litert: str) -> Path:
    """aarch64 wheels of the device side, unpacked to one folder that goes on PYTHONPATH. The third-party wheels are
    cached; edgeprune itself is rebuilt from this checkout every time, so the check never runs stale code."""
    site = CACHE / f"site-litert-{litert}"
    if (site / ".ok").is_file():
        fresh_edgeprune(site)
        return site
    wheels = CACHE / f"wheels-litert-{litert}"
    wheels.mkdir(parents=True, exist_ok=True)
    plat = ["--platform", "manylinux_2_27_aarch64", "--platform", "manylinux_2_28_aarch64", "--platform",
            "manylinux_2_17_aarch64", "--platform", "manylinux2014_aarch64", "--platform", "manylinux_2_34_aarch64"]
    base = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", *plat, "--python-version", "3.11",
            "--implementation", "cp", "-d", str(wheels)]
    for pkg in [f"ai-edge-litert=={litert}", *DEVICE_PACKAGES]:
        try:
            run([*base, pkg], f"download of the aarch64 wheel {pkg}")
        except CheckError:
            raise CheckError(f"could not download an aarch64 wheel of {pkg} for CPython 3.11") from None
    shutil.rmtree(site, ignore_errors=True)
    site.mkdir(parents=True)
    for whl in sorted(wheels.glob("*.whl")):
        if not whl.name.startswith("edgeprune-"):
            with zipfile.ZipFile(whl) as z:
                z.extractall(site)
    bad = [p.name for p in site.iterdir() if p.name.startswith(("tensorflow", "tf_keras", "keras"))]
    if bad:
        raise CheckError(f"the device-side install pulled in {bad}; the runtime install must not need TensorFlow")
    (site / ".ok").write_text("ok\n")
    fresh_edgeprune(site)
    return site


def fresh_edgeprune(site: Path) -> None:
    """Build edgeprune's wheel from this checkout and put it in ``site`` in place of any earlier one."""
    with tempfile.TemporaryDirectory(prefix="edgeprune-wheel-") as tmp:
        run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", tmp], "building the edgeprune wheel")
        for old in site.glob("edgeprune*"):
            shutil.rmtree(old) if old.is_dir() else old.unlink()
        for whl in Path(tmp).glob("edgeprune-*.whl"):
            with zipfile.ZipFile(whl) as z:
                z.extractall(site)


def bundle() -> Path:
    """A small bundle exported on this workbench (demo data, study CNN at half width)."""
    out = CACHE / "bundle-v2"  # v2: with a file of LiteRT's quantizer (wi8)
    if (out / "export.json").is_file():
        return out
    ep = ROOT / ".venv" / "bin" / "edgeprune"
    ws = CACHE / "runs"
    if not (ws / "pi" / "run.json").is_file():
        run([str(ep), "train", "--data", "demo", "--image-size", "32", "--widths", "16,16,32,32,64,64", "--dense", "64",
             "--epochs", "8", "--lr", "1e-3", "--augment", "light", "-w", str(ws), "--out", "pi", "--force", "-q"], "training the check's model")
    run([str(ep), "export", "pi", "-w", str(ws), "--formats", "fp32,int8,wi8", "--out", str(out), "--force", "-q"],
        "exporting the bundle")
    return out


def probe() -> Path:
    """A small latency probe of the check's model (fp32, 2 grid points per axis): the flow, not the figures."""
    out = CACHE / "probe"
    if (out / "manifest.json").is_file():
        return out
    bundle()  # trains the check's model if needed
    run([str(ROOT / ".venv" / "bin" / "edgeprune"), "latency", "probe", "pi", "-w", str(CACHE / "runs"), "--formats",
         "fp32", "--round-to", "8", "--points", "2", "--variants", "1", "--out", str(out), "--force", "-q"],
        "probing the check's model")
    return out


def check_latency_measure(q: str, root: Path, py: str, env: dict) -> str:
    """`latency measure` under emulation: every probe file timed, on aarch64, without TensorFlow."""
    p = probe()
    table = CACHE / "latency-aarch64.json"
    run([q, "-L", str(root), py, "-m", "edgeprune", "latency", "measure", str(p), "--json", str(table), "--threads",
         "2", "--runs", "3", "--min-time", "0", "--passes", "1", "--force", "-q"], "the emulated aarch64 latency measure", env=env)
    doc = json.loads(table.read_text())
    bad = [r for r in doc["rows"] if r.get("error") or not r.get("p50_ms")]
    if bad:
        raise CheckError(f"latency measure under emulation: {bad[0]['file']}: {bad[0].get('error')}")
    if doc["device"]["machine"] != "aarch64":
        raise CheckError(f"latency measure reported machine {doc['device']['machine']!r}, not aarch64")
    n = len(json.loads((p / "manifest.json").read_text())["files"])
    if len(doc["rows"]) != n:
        raise CheckError(f"latency measure timed {len(doc['rows'])} of {n} probe files")
    return f"latency measure timed all {n} probe files"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", type=Path)
    ap.add_argument("--litert", default=DEFAULT_LITERT)
    a = ap.parse_args()
    t0 = time.time()
    try:
        q = qemu()
        root = sysroot()
        sp = site(a.litert)
        b = a.bundle or bundle()
        files = sorted(b.glob("*.tflite"))
        if not files:
            raise CheckError(f"{b} holds no .tflite files")
        x86 = CACHE / "x86.json"
        common = ["bench", *map(str, files), "--runs", "5", "--warmup", "1", "--rounds", "1", "--min-time", "0", "--threads", "2", "--predictions",
                  "--force", "-q"]
        run([str(ROOT / ".venv" / "bin" / "edgeprune"), *common, "--json", str(x86)], "the x86 bench")
        py = str(root / "usr" / "bin" / "python3.11")
        rx = {Path(r["model"]).name: r for r in json.loads(x86.read_text())["results"]}
        parts, emulated_s, rt = [], {}, None
        for cpu, board in CPUS.items():
            arm = CACHE / f"aarch64-{cpu}.json"
            env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(sp), "PYTHONNOUSERSITE": "1", "HOME": str(CACHE),
                   "EDGEPRUNE_EMULATED": "1", "QEMU_CPU": cpu, "EDGEPRUNE_WORKER_PREFIX": f"{q} -L {root}", "LC_ALL": "C.UTF-8"}
            t1 = time.time()
            run([q, "-L", str(root), py, "-m", "edgeprune", *common, "--json", str(arm)], f"the emulated aarch64 bench ({cpu})", env=env)
            emulated_s[cpu] = time.time() - t1
            ra = {Path(r["model"]).name: r for r in json.loads(arm.read_text())["results"]}
            figures = []
            for name in rx:
                r1, r2 = rx[name], ra[name]
                if r2.get("error"):
                    raise CheckError(f"{name} failed under emulation ({cpu}): {r2['error']}")
                if r2["device"]["machine"] != "aarch64":
                    raise CheckError(f"the emulated run reported machine {r2['device']['machine']!r}, not aarch64")
                if r2.get("tensorflow_imported") or r2["runtime"]["name"] == "tensorflow":
                    raise CheckError("the emulated run imported TensorFlow")
                same = sum(int(p == q_) for p, q_ in zip(r1["predictions"], r2["predictions"]))
                n = len(r1["predictions"])
                if r1["format"] in QUANTIZER_FORMATS:  # it must load and run; its kernels may round otherwise
                    figures.append(f"{name} {100 * r2['accuracy']:.2f}% (x86 {100 * r1['accuracy']:.2f}%; top-1 equal "
                                   f"on {same}/{n})")
                    continue
                if r1["accuracy"] != r2["accuracy"]:
                    raise CheckError(f"{name} ({cpu}): accuracy {r2['accuracy']:.4f} on aarch64 but {r1['accuracy']:.4f} on x86")
                if r1["format"] == "fp32" and same != n:
                    raise CheckError(f"{name} ({cpu}): top-1 differs on {n - same} of {n} images between aarch64 and x86")
                figures.append(f"{name} {100 * r2['accuracy']:.2f}% (top-1 equal on {same}/{n})")
                rt = r2["runtime"]
            parts.append(f"{cpu} ({board}): " + ", ".join(figures))
            if cpu == next(iter(CPUS)):
                parts.append(check_latency_measure(q, root, py, env))
        x86_acc = ", ".join(f"{n} {100 * r['accuracy']:.2f}%" for n, r in rx.items())
        summary = {"runtime": rt, "files": parts, "x86": x86_acc, "tensorflow_imported": False, "emulated_bench_s": emulated_s,
                   "wall_s": time.time() - t0, "qemu": run([q, "--version"], "qemu").stdout.splitlines()[0]}
        (CACHE / "pi-check.json").write_text(json.dumps(summary, indent=2))
        print(f"pi-check OK: aarch64 (emulated, {summary['qemu']}) with {rt['name']} {rt['version']}: "
              f"{'; '.join(parts)}; equal to x86 ({x86_acc}; a small model trained 8 epochs on the demo set: the check is "
              f"about equality, not accuracy); TensorFlow never imported; {summary['wall_s']:.0f} s "
              "(emulated timings are meaningless and not reported)")
        return 0
    except CheckError as exc:
        print(f"pi-check error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
