"""BENCHMARKS.md is what the committed results give (issue 17: every figure traced to a
committed file, the generator types no number the data holds, a clean clone reproduces it byte for byte)."""
from __future__ import annotations

import ast
import re
import subprocess
import sys

import pytest
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


# What a generator may type that holds a digit and is no measurement. Everything else with a digit in a string the
# generators write is a figure typed by hand, and must be read from benchmarks/results/ (or the goals in
# docgen/common.py's GOALS, which the issues set) instead.
ALLOWED = (
    "95 %",  # the confidence level of every interval, a convention
    "1e-300",  # a p-value below what a double holds
    "issue 13", "issue 14", "issue 15", "issue 23", "issue 24", "issue 25", "issue 26",  # section names
    "round 1", "round 2", "round-1",  # the latency section's two rounds, by name
    "Keras 3",  # a framework's name
    ".h5",  # a file format
    "fp32 4, int8 1",  # bytes per weight of each format, by definition
    "batch 1",  # the bench times one image per invoke
    "holds 1.0", "out 1.0", "of 1.0",  # the ratio of two identical files
)
IDENTIFIER = re.compile(r"(?<![\w.])[A-Za-z][\w-]*\d[\w.-]*")  # fp32, p50, aarch64, filter-50, cifar10-animals


def typed_numbers(source: str) -> list[str]:
    """The string literals of a generator's source that hold a digit outside identifiers and ALLOWED; docstrings and
    format specs (`{x:.2f}`) are not text of the document and are skipped."""
    tree = ast.parse(source)
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skip.add(id(first.value))
        if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            skip.update(id(n) for n in ast.walk(node.format_spec))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            text = node.value
            for phrase in ALLOWED:
                text = re.sub(re.escape(phrase), "", text, flags=re.IGNORECASE)
            text = IDENTIFIER.sub("", text)
            if re.search(r"\d", text):
                found.append(f"line {node.lineno}: {node.value!r}")
    return found


def test_no_generator_types_a_number():
    for path in sorted((ROOT / "benchmarks" / "docgen").glob("*.py")):
        assert typed_numbers(path.read_text()) == [], path.name


def test_the_grep_catches_a_typed_figure():
    assert typed_numbers('"""Docstring: 0.676 ms is fine here."""\nx = f"{a:.3f} ms, {b:,} files (issue 13, fp32)"\n') == []
    typed = 'lines = [f"the dense model runs in 0.676 ms ({v:.2f} x)", "2 threads"]\n'
    assert sorted(typed_numbers(typed)) == [f"line 1: {s!r}" for s in ("2 threads", "the dense model runs in 0.676 ms (")]


def test_every_results_file_is_committed():
    """A clean clone must reproduce the document: nothing it reads may be untracked or ignored (.gitignore has
    exports/, with an exception for the results)."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    loose = subprocess.run(["git", "ls-files", "--others", "benchmarks/results"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    assert loose == []
