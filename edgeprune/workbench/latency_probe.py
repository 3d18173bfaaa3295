"""`edgeprune latency probe RUN`: the TFLite files whose times, measured on the device, predict the latency of the
model at any per-layer widths (``edgeprune.latency``).

A single chain is cut into segments, one per prunable layer: the layer and what follows it up to the next one (the
first segment also holds the input side, the tail holds the classifier). A segment's time depends on its input
channels (the previous prunable layer's width) and its own width, so each is converted over a grid of the two at
multiples of ``--round-to``.

Any other graph (residual, depthwise, squeeze-excite, nested backbones: ``graph_pieces``) has one segment per
convolution or dense layer, at its real input shape, with the BatchNorm and activations that follow it alone; its
input width is the channel group that feeds it (fixed where that is the model's input, a concatenation of several
groups, or channels that never change), its output width its own group's (a depthwise layer's input and output are
one group: a single axis). What the segments leave out (adds, multiplies, pooling, padding) the overhead fit on whole
models at random group widths takes up. Whole models at uniform widths, and at ``--fit-variants`` random ones, fit the
overhead; whole models at other random per-layer widths validate the table. How well a measured table predicts, and
what the random fits add, is in BENCHMARKS.md's latency section (figures from a committed table, not restated here).
"""
from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..device.defaults import LATENCY_MIN_TIME_S, LATENCY_PASSES, LATENCY_WARMUP_S
from ..errors import UserError
from ..options.probe import ProbeOptions
from ..jsonio import atomic_write_bytes, write_json
from ..paths import check_replaceable, replace_dir
from ..progress import Reporter, Silent
from ..records import ModelSignature, ProbeFile, ProbeManifest, Segment
from ..workspace import Run, output_folder
from .export.convert import convert
from .graph import chain_layers, channel_graph, groups
from .graph import widths as layer_widths
from .metrics.macs import count_macs
from .modelio import load_model
from .pruning.filters.plan import layer_floor
from .pruning.filters.surgery import remove_channels
from .tf import keras

L = keras.layers
MANIFEST = "manifest.json"
FIT_RATIOS = (0.0, 0.25, 0.5, 0.75)
# a rough device for the printed estimate: a Raspberry Pi 4 (Cortex-A72) with XNNPACK
PI4_MACS_PER_MS = {"fp32": 1.5e6, "fp16": 1.5e6, "dynamic": 2.0e6, "int8": 3.0e6}
PI4_FILE_OVERHEAD_MS = 40.0


def allowed_widths(full: int, round_to: int) -> list[int]:
    """The widths filter removal can keep: multiples of round_to from the layer's floor, and the full width."""
    floor = layer_floor(full, round_to)
    start = int(math.ceil(floor / round_to)) * round_to
    return sorted({w for w in range(start, full + 1, round_to)} | {min(full, max(floor, start)), full})


def grid_axis(full: int, round_to: int, points: int) -> list[int]:
    allowed = allowed_widths(full, round_to)
    if len(allowed) <= points:
        return allowed
    idx = np.unique(np.round(np.linspace(0, len(allowed) - 1, points)).astype(int))
    return [allowed[i] for i in idx]


@dataclass
class _Piece:
    segment: Segment
    layers: list  # the original model's layers in this segment
    flatten_hw: tuple[int, int] | None  # the segment starts with a Dense behind Flatten of an (H, W, cin) map
    # a graph's segment: the first layer's input shape without its channels, each group channel's count in that
    # input (H x W behind a Flatten), and whether input and output are one group (a depthwise layer)
    input_hw: tuple[int, ...] | None = None
    cin_mult: int = 1
    tied: bool = False
    first: bool = False  # takes the model's input
    last: bool = False  # gives the model's output


WEIGHTED = (L.Conv2D, L.Dense, L.DepthwiseConv2D)  # exactly these types: a segment of their own each
# single-input layers that keep the channels and ride with the layer before them (BatchNorm folds, ReLU fuses)
FOLLOWERS = (L.BatchNormalization, L.ReLU, L.Activation, L.LeakyReLU, L.ELU, L.PReLU, L.Softmax, L.Dropout)


def pieces(model: keras.Model) -> list[_Piece]:
    """The chain cut at each prunable layer and at the classifier; any other graph, per layer (``graph_pieces``)."""
    try:
        chain = chain_layers(model)
    except UserError:
        return graph_pieces(model)
    gs = groups(model)
    producers = [g.producer for g in gs]
    by_name = {l.name: i for i, l in enumerate(chain)}
    tail_start = by_name[gs[-1].consumer]
    cuts = [by_name[p] for p in producers] + [tail_start]
    width = layer_widths(model, producers)
    flat = {g.consumer: g.flatten_hw for g in gs}
    out = []
    for i, start in enumerate(cuts):
        end = cuts[i + 1] if i + 1 < len(cuts) else len(chain)
        layers = chain[:end] if i == 0 else chain[start:end]  # the first also holds the input side
        head = chain[start]
        cin_from = producers[i - 1] if i > 0 else None
        cin_full = width[cin_from] if cin_from else int(model.input_shape[-1])
        is_tail = i == len(producers)
        producer = None if is_tail else producers[i]
        cout_full = width[producer] if producer else int(head.units if isinstance(head, L.Dense) else head.filters)
        name = producer or f"tail:{head.name}"
        out.append(_Piece(Segment(name=name, producer=producer, cin_from=cin_from, cin_full=cin_full,
                                  cout_full=cout_full), layers, flat.get(head.name)))
    return out


def graph_pieces(model: keras.Model) -> list[_Piece]:
    """One segment per Conv2D, DepthwiseConv2D and Dense call of the channel graph, with its followers."""
    g = channel_graph(model)
    groups(model)  # a one-line error when nothing can be pruned
    prunable = {i: grp for i, grp in enumerate(g.groups) if grp.fixed_by is None}
    consumers: dict[int, list] = {}
    for op in g.ops:
        for t in op.inputs:
            consumers.setdefault(t, []).append(op)
    model_in = {g.tensor(t) for t in model.inputs}
    model_out = {g.tensor(t) for t in model.outputs}

    def group_of(ids: np.ndarray) -> tuple[str | None, int, int]:
        """(the one prunable group holding every channel, how many times each appears, its width) or (None, 1, n)."""
        gi = g.root_group[g.comp[ids]] if len(ids) else np.array([-1])
        uniq = set(gi.tolist())
        if len(uniq) == 1 and (i := uniq.pop()) in prunable and len(ids) % prunable[i].width == 0:
            return prunable[i].name, len(ids) // prunable[i].width, prunable[i].width
        return None, 1, len(ids)

    out, names = [], set()
    for op in g.ops:
        layer = op.layer
        if type(layer) not in WEIGHTED or len(op.inputs) != 1:
            continue
        t_in = op.inputs[0]
        shape = g.shapes[t_in]
        if any(d is None for d in shape[1:]):
            raise UserError(f"layer {layer.name!r} takes an input of unknown size {shape}; the latency probe needs a "
                            "model of a fixed input size")
        layers, t = [layer], op.outputs[0]
        while len(consumers.get(t, [])) == 1 and len(consumers[t][0].inputs) == 1 \
                and isinstance(consumers[t][0].layer, FOLLOWERS) and t not in model_out:
            layers.append(consumers[t][0].layer)
            t = consumers[t][0].outputs[0]
        tied = isinstance(layer, L.DepthwiseConv2D) and getattr(layer, "depth_multiplier", 1) == 1
        cin_from, mult, cin_full = group_of(g.tensor_ids[t_in])
        producer, _, cout_full = group_of(g.tensor_ids[op.outputs[0]])
        if tied:
            cin_from, mult, cin_full = None, 1, cout_full
        if getattr(layer, "groups", 1) != 1:  # a grouped convolution keeps its widths (the graph fixes them too)
            cin_from, mult, producer = None, 1, None
        name = layer.name
        while name in names:
            name += "+"
        names.add(name)
        out.append(_Piece(Segment(name=name, producer=producer, cin_from=cin_from, cin_full=cin_full,
                                  cout_full=cout_full), layers, None, input_hw=tuple(int(d) for d in shape[1:-1]),
                          cin_mult=mult, tied=tied, first=t_in in model_in, last=t in model_out))
    return out


def _layer_at(layer, cout: int | None):
    cfg = layer.get_config()
    if cout is not None:
        cfg["filters" if "filters" in cfg else "units"] = cout
    return layer.__class__.from_config(cfg)


def segment_model(model: keras.Model, piece: _Piece, cin: int, cout: int) -> keras.Model:
    """The piece alone, with ``cin`` input channels and ``cout`` output channels (random weights: time only)."""
    seg = piece.segment
    if piece.input_hw is not None:  # a graph's segment
        x = inputs = keras.Input(shape=piece.input_hw + ((cout if piece.tied else cin) * piece.cin_mult,))
        for i, layer in enumerate(piece.layers):
            x = _layer_at(layer, cout if i == 0 and not piece.tied and seg.producer else None)(x)
        return keras.Model(inputs, x)
    if seg.cin_from is None:
        shape = tuple(model.input_shape[1:])
    elif piece.flatten_hw:
        h, w = piece.flatten_hw
        shape = (h * w * cin,)
    else:
        shape = tuple(piece.layers[0].input_shape[1:-1]) + (cin,)
    x = inputs = keras.Input(shape=shape)
    for layer in piece.layers:
        if isinstance(layer, L.InputLayer):
            continue
        cfg = layer.get_config()
        if seg.producer is not None and layer.name == seg.producer:
            cfg["filters" if "filters" in cfg else "units"] = cout
        x = layer.__class__.from_config(cfg)(x)
    return keras.Model(inputs, x)


def variant_model(model: keras.Model, widths: dict[str, int]) -> keras.Model:
    full = layer_widths(model)
    keep = {p: np.arange(w) for p, w in widths.items() if w < full[p]}
    return remove_channels(model, keep) if keep else model


def _calibration(m: keras.Model, image_input: bool, rng) -> np.ndarray:
    shape = (8, *m.input_shape[1:])
    if image_input:
        return rng.integers(0, 256, shape).astype(np.float32)
    return rng.uniform(0, 4, shape).astype(np.float32)


def _io(first: bool, last: bool) -> tuple[str, str]:
    """An int8 segment's input and output types, as the whole model has them there: uint8 where the exported model
    takes its image in or gives its scores out, int8 inside the chain. (A first segment that also gave uint8 out
    timed a requantization the whole model never runs.)"""
    return ("uint8" if first else "int8"), ("uint8" if last else "int8")


def probe(run: Run, workspace: Path, opts: ProbeOptions, reporter: Reporter | None = None) -> tuple[Path, ProbeManifest]:
    reporter = reporter or Silent()
    opts.check()
    folder = output_folder(workspace, "probe", opts.out, f"{run.name}-probe")
    check_replaceable(folder, force=opts.force, marker=MANIFEST, kinds=(ProbeManifest.KIND,), what="latency probe")
    model = load_model(run.model)
    ps = pieces(model)
    full = layer_widths(model)
    for p in ps:
        s = p.segment
        s.cins = grid_axis(s.cin_full, opts.round_to, opts.points) if s.cin_from else [s.cin_full]
        s.couts = grid_axis(s.cout_full, opts.round_to, opts.points) if s.producer else [s.cout_full]
    rng = np.random.default_rng(opts.seed)
    variants: list[tuple[str, dict[str, int]]] = []
    for r in FIT_RATIOS:
        variants.append(("fit", {n: _nearest(allowed_widths(w, opts.round_to), w * (1 - r)) for n, w in full.items()}))
    for _ in range(opts.variants):
        variants.append(("validate", {n: int(rng.choice(allowed_widths(w, opts.round_to))) for n, w in full.items()}))
    # random widths in the fit too: pruning chooses uneven widths, and those ran slower than the sum of their
    # segments said, against the uniform models (BENCHMARKS.md's latency section: the error refitted on uniform alone)
    for _ in range(opts.fit_variants):
        variants.append(("fit", {n: int(rng.choice(allowed_widths(w, opts.round_to))) for n, w in full.items()}))
    sig = ModelSignature(run=run.name, image_size=run.info.image_size, input_shape=list(model.input_shape[1:]),
                         widths=full)
    jobs = [(p, cin, cout) for p in ps for cin in p.segment.cins for cout in p.segment.couts]
    total = len(opts.formats) * (len(jobs) + len(variants))
    staging = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "files").mkdir(parents=True)
    files: list[ProbeFile] = []
    est_ms = 0.0
    reporter.task(f"converting {total} probe files", total)
    t0 = time.perf_counter()
    try:
        for fmt in opts.formats:
            for i, (p, cin, cout) in enumerate(jobs):
                m = segment_model(model, p, cin, cout)
                if p.input_hw is None:
                    first, last = p.segment.cin_from is None, p.segment.producer is None
                else:
                    first, last = p.first, p.last
                name = f"seg-{ps.index(p):02d}-{cin}-{cout}.{fmt}.tflite"
                data = convert(m, fmt, False, _calibration(m, first, rng), *_io(first, last))
                atomic_write_bytes(staging / "files" / name, data)
                files.append(ProbeFile(file=name, format=fmt, kind="segment", segment=p.segment.name, cin=cin, cout=cout))
                est_ms += _estimate_ms(m, fmt, opts.runs)
                reporter.advance(1)
            for j, (role, widths) in enumerate(variants):
                m = variant_model(model, widths)
                name = f"var-{j:02d}.{fmt}.tflite"
                data = convert(m, fmt, False, _calibration(m, True, rng), "uint8")
                atomic_write_bytes(staging / "files" / name, data)
                files.append(ProbeFile(file=name, format=fmt, kind="variant", widths=widths, role=role))
                est_ms += _estimate_ms(m, fmt, 4 * opts.runs)
                reporter.advance(1)
        reporter.done()
        manifest = ProbeManifest(model=sig, round_to=opts.round_to, formats=list(opts.formats),
                                 segments=[p.segment for p in ps], files=files, edgeprune=__version__,
                                 extra={"estimate_pi4_seconds": round(est_ms / 1000, 1),
                                        "seconds": round(time.perf_counter() - t0, 1)})
        write_json(staging / MANIFEST, manifest.to_dict())
        replace_dir(staging, folder, force=opts.force, marker=MANIFEST, kinds=(ProbeManifest.KIND,), what="latency probe")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder, manifest


def _nearest(allowed: list[int], w: float) -> int:
    return min(allowed, key=lambda a: (abs(a - w), a))


def _estimate_ms(m: keras.Model, fmt: str, runs: int) -> float:
    """What timing this file takes on a Raspberry Pi 4 at `latency measure`'s defaults, roughly: per pass, loading,
    the warm-up and the timed runs (at least `runs`, and at least the minimum time of each)."""
    one = count_macs(m) / PI4_MACS_PER_MS.get(fmt, 1.5e6)
    per_pass = PI4_FILE_OVERHEAD_MS + max(10 * one, 1e3 * LATENCY_WARMUP_S) + max(runs * one, 1e3 * LATENCY_MIN_TIME_S)
    return LATENCY_PASSES * per_pass
