"""The pick of `edgeprune optimize`, on measured candidates only (numpy, no TensorFlow).

A candidate is eligible when its measured p50's 95 % interval lies under the latency budget (its upper bound), its
gzip size is under the size budget and its test accuracy is at least the least asked for. The pick is the most
accurate eligible candidate; a candidate within one paired standard error of it (the same test images) is a tie,
and among tied candidates the smaller and faster file wins (the least gzip size x p50). Every other candidate gets
the reason it lost.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..paired_accuracy import compare
from ..records.optimize import OptimizeCandidate

KB = 1024  # --max-kb counts kB of 1024 bytes, as export --max-kb and the report do


@dataclass
class PickResult:
    pick: OptimizeCandidate | None
    tie: bool = False
    tied_with: list[str] = field(default_factory=list)
    message: str = ""


def _upper(c: OptimizeCandidate) -> float:
    return max(c.p50_ci[1], c.p50_ms) if c.p50_ci and len(c.p50_ci) == 2 else c.p50_ms


def _within_budget(c: OptimizeCandidate, max_ms: float, max_kb: float | None, min_accuracy: float | None) -> bool:
    """Sets ``lost`` and ``why`` on a candidate that cannot be picked; True when it can."""
    if c.lost in ("failed", "not measured") or not c.measured or c.p50_ms is None:
        c.lost = c.lost if c.lost in ("failed", "not measured") else "not measured"
        c.why = c.why or "no measurement on the device"
        return False
    if c.p50_ms > max_ms:
        c.lost, c.why = "over budget", f"p50 {c.p50_ms:.4g} ms measured, over the budget of {max_ms:.4g} ms"
        return False
    if _upper(c) > max_ms:
        c.lost, c.why = "not resolved", (f"p50 {c.p50_ms:.4g} ms, but its 95 % interval reaches {_upper(c):.4g} ms, "
                                         f"over the budget of {max_ms:.4g} ms")
        return False
    if max_kb is not None and (c.gzip_bytes is None or c.gzip_bytes > max_kb * KB):
        size = "unknown" if c.gzip_bytes is None else f"{c.gzip_bytes / KB:.1f} kB"
        c.lost, c.why = "over size", f"gzip {size}, over the budget of {max_kb:g} kB"
        return False
    if min_accuracy is not None and (c.accuracy is None or c.accuracy < min_accuracy):
        acc = "unknown" if c.accuracy is None else f"{100 * c.accuracy:.2f} %"
        c.lost, c.why = "below min accuracy", f"accuracy {acc}, below {100 * min_accuracy:.2f} %"
        return False
    return True


def _paired(a: OptimizeCandidate, b: OptimizeCandidate):
    try:
        return compare(a.test_correct, b.test_correct)
    except Exception:  # a damaged vector: no pairing for this candidate (the record reader checked its type only)
        return None


def _tied(best: OptimizeCandidate, c: OptimizeCandidate) -> bool:
    """c is within one paired s.e. of the most accurate (without paired scores: only an equal accuracy ties)."""
    d = _paired(c, best)
    if d is None:
        return c.accuracy == best.accuracy
    return (best.accuracy or 0.0) - (c.accuracy or 0.0) <= d.se + 1e-12


def _cost(c: OptimizeCandidate) -> float:
    """What a tie weighs: gzip size times p50, so a file a few bytes smaller but several times slower loses."""
    return (c.gzip_bytes if c.gzip_bytes is not None else float("inf")) * c.p50_ms


def pick(cands: list[OptimizeCandidate], max_ms: float, max_kb: float | None = None,
         min_accuracy: float | None = None) -> PickResult:
    for c in cands:
        c.lost, c.vs_pick = (c.lost if c.lost in ("failed", "not measured") else None), None
        if c.lost is None:
            c.why = None
    ok = [c for c in cands if _within_budget(c, max_ms, max_kb, min_accuracy) and c.accuracy is not None]
    for c in cands:
        if c.lost is None and c.accuracy is None:
            c.lost, c.why = "not measured", "no test accuracy"
    if not ok:
        over = sum(c.lost == "over budget" for c in cands)
        unres = sum(c.lost == "not resolved" for c in cands)
        return PickResult(None, message=f"no candidate meets the budget as measured: {over} over the latency budget, "
                          f"{unres} not resolved (interval over it), {sum(c.lost == 'over size' for c in cands)} over "
                          "the size budget")
    best = max(ok, key=lambda c: c.accuracy)
    tied = [c for c in ok if c is best or _tied(best, c)]
    winner = min(tied, key=lambda c: (_cost(c), c.gzip_bytes or 0, c.p50_ms, -(c.accuracy or 0.0)))
    for c in cands:
        d = None if c is winner else _paired(c, winner)
        c.vs_pick = d.to_dict() if d else None
        if c is winner or c.lost is not None:
            continue
        diff = f"{100 * (c.accuracy - winner.accuracy):+.2f}" + (f" ± {100 * d.se:.2f}" if d else "") + " points"
        if c in tied:
            c.lost, c.why = "tie", (f"within one paired s.e. of the most accurate ({diff} against the pick); the "
                                    "smaller and faster file (gzip x p50) wins a tie")
        else:
            c.lost, c.why = "less accurate", f"{diff} against the pick"
    others = [c.key for c in tied if c is not winner]
    msg = (f"{winner.key}: accuracy {100 * winner.accuracy:.2f} %, p50 {winner.p50_ms:.4g} ms "
           f"[{winner.p50_ci[0]:.4g}-{_upper(winner):.4g}]" if winner.p50_ci else
           f"{winner.key}: accuracy {100 * winner.accuracy:.2f} %, p50 {winner.p50_ms:.4g} ms")
    msg += f", gzip {winner.gzip_bytes / KB:.1f} kB" if winner.gzip_bytes is not None else ""
    if others:
        msg += f" (a tie with {', '.join(others)}: within one paired s.e., the smaller and faster file wins)"
    return PickResult(winner, bool(others), others, msg)
