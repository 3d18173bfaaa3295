"""The options of `edgeprune latency probe`, declared once (the CLI's flags and defaults come from these fields)."""
from __future__ import annotations

from dataclasses import dataclass

from ..device.defaults import LATENCY_RUNS
from ..errors import UserError
from ..formats import check_names
from . import opt


@dataclass
class ProbeOptions:
    formats: list[str] = opt(factory=lambda: ["fp32"], items=str, help="Formats to time, e.g. fp32,int8.")
    round_to: int = opt(8, help="Grid widths at multiples of N (the widths pruning may keep).")
    points: int = opt(5, help="Grid points per axis (input and output channels) of each segment.")
    variants: int = opt(12, help="Whole models at random widths, to validate the table (never used to fit).")
    fit_variants: int = opt(4, help="Whole models at random widths used to fit the overhead, beside the uniform ones.")
    runs: int = opt(LATENCY_RUNS, cli=False)  # what the estimate assumes `latency measure` times per file per pass
    seed: int = opt(0, help="Seed of the random-width variants.")
    out: str | None = opt(None, kind=str, short="-o", help="Name or folder (default: <workspace>/probes/<run>-probe).")
    force: bool = opt(False, help="Replace an existing probe.")

    def check(self) -> None:
        check_names(self.formats)
        if not 1 <= self.round_to <= 256:
            raise UserError(f"--round-to must be between 1 and 256, got {self.round_to}")
        if not 2 <= self.points <= 64:
            raise UserError(f"--points must be between 2 and 64, got {self.points}")
        if not 0 <= self.variants <= 1000:
            raise UserError(f"--variants must be between 0 and 1000, got {self.variants}")
        if not 0 <= self.fit_variants <= 1000:
            raise UserError(f"--fit-variants must be between 0 and 1000, got {self.fit_variants}")
