"""The original study's own figures, copied from its report into benchmarks/results/seed_reference.json (BENCHMARKS.md's
last section, and the study section's "against the study" settings). Nothing here is measured: the script only
transcribes, so that the JSON is what the report says and not a hand copy.

    python benchmarks/seed_reference.py [../shared/seed/reference-results.md]
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgeprune.jsonio import write_json  # noqa: E402

SOURCE = "../shared/seed/reference-results.md"
OUT = ROOT / "benchmarks" / "results" / "seed_reference.json"


def table(text: str, first: str) -> dict[str, list[str]]:
    """A markdown table whose header starts with ``first``: each row's label to its cells."""
    lines = text[text.index(f"| {first} |"):].splitlines()
    rows = {}
    for line in lines:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def num(cell: str) -> float | int:
    v = float(cell.replace("%", "").replace(",", "").strip())
    return int(v) if v.is_integer() else v


def main(src: Path) -> None:
    text = src.read_text()
    w, f = table(text, "weight pruning sparsity"), table(text, "filter pruning ratio")
    size = re.search(r"resized to (\d+)x\1", text)
    epochs = re.search(r"up to ([\d-]+) epochs", text)
    ft = re.search(r"(\d+) fine-tuning epochs with \w+ (\d+(?:\.\d+)?(?:e-?\d+)?)", text)
    doc = {"source": f"{SOURCE} (the original study's published report; Animals-10 at {size[1]} px, not measured here)",
           "setup": {"image_size": int(size[1]), "epochs": epochs[1], "finetune_epochs": int(ft[1]),
                     "finetune_lr": ft[2]},
           "weight": {"sparsity": [num(c) for c in w["weight pruning sparsity"]],
                      "val_accuracy": [num(c) for c in w["val accuracy"]],
                      "size_after_zip": w["size after zip"],
                      "measured_sparsity": [num(c) for c in w["measured model sparsity"]]},
           "filter": {"ratio": [num(c) for c in f["filter pruning ratio"]],
                      "val_accuracy": [num(c) for c in f["val accuracy"]],
                      "params": [num(c) for c in f["parameters"]]}}
    write_json(OUT, doc)
    print(OUT)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / SOURCE)
