"""Child-process entry point: ``python -m edgeprune.device.worker SPEC.json OUT.json``.

One model per process, so a segfault in native code on a hostile file is one failed row, not a dead harness.
"""
from __future__ import annotations

import json
import sys

from ..errors import UserError, short
from .measure import Spec, measure


def main(argv: list[str]) -> int:
    spec_path, out_path = argv
    with open(spec_path) as fh:
        spec = Spec(**json.load(fh))
    try:
        result = {"ok": True, **measure(spec)}
    except UserError as exc:
        result = {"ok": False, "error": str(exc)}
    except Exception as exc:  # any other failure of the runtime on this file is this model's error
        result = {"ok": False, "error": f"{exc.__class__.__name__}: {short(exc)}"}
    with open(out_path, "w") as fh:
        json.dump(result, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
