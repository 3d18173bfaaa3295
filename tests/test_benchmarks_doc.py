"""BENCHMARKS.md is what the committed results give (issue 17: every figure traced to a
committed file, the generator types no number the data holds, a clean clone reproduces it byte for byte)."""
from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_generated_sections_match_the_committed_results():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "sections.py"), "--check"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = (ROOT / "BENCHMARKS.md").read_text()
    for name in ("study", "resolution", "recovery", "latency", "ray"):  # the check covers the whole document
        assert f"<!-- generated: {name} -->" in doc, name


def test_the_check_notices_a_figure_typed_by_hand(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import sections

    doc = (ROOT / "BENCHMARKS.md").read_text()
    lines = doc.split("\n")
    start = lines.index("<!-- generated: recovery -->")
    row = next(j for j in range(start, len(lines)) if lines[j].startswith("|---")) + 1
    cells = lines[row].split(" | ")
    cells[4] = "99.99"  # someone "improves" the test accuracy of the first row
    lines[row] = " | ".join(cells)
    edited = "\n".join(lines)
    assert edited != doc
    copy = tmp_path / "BENCHMARKS.md"
    copy.write_text(edited)
    monkeypatch.setattr(sections, "DOC", copy)
    monkeypatch.setattr(sections, "REPORT", tmp_path / "report")  # the plots land here, not in the repository
    assert sections.main(["--check"]) == 1
    assert sections.main([]) == 0 and copy.read_text() == doc  # regenerating restores it
    assert (tmp_path / "report" / "report.md").is_file()
