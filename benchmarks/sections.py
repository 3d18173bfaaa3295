"""BENCHMARKS.md, made only from committed files in benchmarks/results/ (issue 17's provenance rule).

`python benchmarks/sections.py` writes the whole document (and the study's report and plots into
benchmarks/results/report/); `--check` writes nothing and exits 1 when BENCHMARKS.md differs from what the committed
results give. tests/test_benchmarks_doc.py runs the check, so a figure typed by hand, or a result file changed
without regenerating, fails the suite. Each section lives in benchmarks/docgen/ and reads its own result files;
a section whose files are absent is left out. Between `<!-- generated: NAME -->` and `<!-- end: NAME -->` is one
section's text.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from docgen import allocation, budget, graph_latency, graph_prune, imported, latency, optimize, quantizer, ray, recovery, study, timing  # noqa: E402

DOC = ROOT / "BENCHMARKS.md"
REPORT = ROOT / "benchmarks" / "results" / "report"

INTRO = ["# Benchmarks", "",
         "Every figure below is read from a file committed in `benchmarks/results/` by `benchmarks/sections.py` "
         "(one module per section in `benchmarks/docgen/`); a test checks that this file is exactly what they give. "
         "Each section names the command that measured it. Timings on this shared 2-core machine are compared as "
         "ratios of files measured side by side, with intervals.", ""]


def sections(report_dir: Path | None) -> list[tuple[str, object]]:
    """The document's sections in order: (name, a function returning its lines or None)."""
    return [
        ("study", lambda: study.study_section(report_dir)),
        ("resolution", timing.resolution_section),
        ("speed", timing.speed_section),
        ("pi-check", timing.pi_check_section),
        ("imported", imported.imported_section),
        ("recovery", recovery.recovery_section),
        ("budget", lambda: budget.budget_section(report_dir)),
        ("allocation", allocation.allocation_section),
        ("latency", latency.latency_section),
        ("graph-latency", graph_latency.graph_latency_section),
        ("graph-prune", graph_prune.graph_prune_section),
        ("ray", ray.ray_section),
        ("quantizer", quantizer.quantizer_section),
        ("optimize", optimize.optimize_section),
        ("seed-reference", imported.seed_reference_section),
    ]


def render(report_dir: Path | None = None) -> str:
    lines = list(INTRO)
    for name, make in sections(report_dir):
        body = make()
        if body is None:
            continue
        lines += [f"<!-- generated: {name} -->", *body, f"<!-- end: {name} -->", ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if "--check" in argv:
        old = DOC.read_text() if DOC.is_file() else ""
        if render(None) != old:
            print("BENCHMARKS.md differs from what benchmarks/results/ gives; run python benchmarks/sections.py")
            return 1
        return 0
    DOC.write_text(render(REPORT))
    print("written BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
