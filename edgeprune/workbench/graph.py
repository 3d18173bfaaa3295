"""The model's graph, in one place: its leaf layers, the layers whose weights can be pruned, the layers that hold
weights a file must store, and the channel graph that says which channels filter pruning keeps or removes together.

The channel graph (as Torch-Pruning's DependencyGraph, built from the Keras layer graph instead of a trace): every
tensor of the model, nested models inlined, gets one id per channel, and every layer gets one id per channel of its
weights' input and output axes. A rule per layer type (``RULES``) says which of these ids are the same channel:
a Conv2D or Dense ties its input tensor to its kernel's input axis and its output tensor to the output axis (a
producer: it decides its output width); DepthwiseConv2D, BatchNormalization and PReLU tie input, weights and output;
activations, pooling, padding and dropout tie input to output; Add, Multiply and the other element-wise merges tie
all their inputs; Concatenate places each input at its offset; Flatten gives channel c its H x W positions. A layer
without a rule is fixed: none of its channels is removed. Union-find over the ids gives components (one per channel
kept or removed together); the components a set of producers shares make one group. A group that touches the model's
input or output, or a fixed layer, is not prunable.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np

from ..errors import UserError
from .importing.preprocess import GRAY_NAME
from .tf import keras

L = keras.layers


def leaf_layers(model, unwrap: bool = False):
    """Every layer of the model, nested models flattened; with unwrap, also the layer inside a tfmot wrapper."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from leaf_layers(layer, unwrap)
        else:
            yield layer
            inner = getattr(layer, "layer", None) if unwrap else None
            if inner is not None:
                yield inner


# layers edgeprune puts in front of an imported model, computing a fixed function: never pruned, their channels fixed
FROZEN = {GRAY_NAME: "edgeprune's grayscale layer"}


def is_prunable(layer) -> bool:
    """Conv2D and Dense, whose kernels weight pruning thins (DepthwiseConv2D, a Conv2D subclass, is left dense)."""
    return isinstance(layer, (L.Conv2D, L.Dense)) and not isinstance(layer, L.DepthwiseConv2D) \
        and layer.name not in FROZEN


def prunable_layers(model: keras.Model) -> list:
    """The model's own prunable layers, in model order."""
    return [l for l in model.layers if is_prunable(l)]


def weighted_layers(model: keras.Model) -> list:
    """Every layer whose weights a TFLite file stores (BatchNorm folds into them), nested models included."""
    return [l for l in leaf_layers(model) if isinstance(l, (L.Conv2D, L.Dense, L.DepthwiseConv2D))]


def chain_layers(model: keras.Model) -> list:
    """The model's layers as one chain, or a UserError naming the layer that breaks it (the latency probe's cut)."""
    layers = [l for l in model.layers if not isinstance(l, L.InputLayer)]
    prev = None
    for layer in layers:
        if isinstance(layer, keras.Model):
            raise UserError(f"layer {layer.name!r} is a nested model; the latency probe handles single-chain models only")
        if isinstance(layer, (L.Add, L.Concatenate, L.Multiply, L.Subtract, L.Average, L.Maximum)):
            raise UserError(f"layer {layer.name!r} ({layer.__class__.__name__}) joins branches; the latency probe handles single-chain models only")
        if isinstance(layer, (L.DepthwiseConv2D, L.SeparableConv2D)) or getattr(layer, "groups", 1) != 1:
            raise UserError(f"layer {layer.name!r} is a depthwise or grouped convolution, which the latency probe does not handle")
        nodes = [n for n in layer.inbound_nodes]
        if len(nodes) != 1:
            raise UserError(f"layer {layer.name!r} is used {len(nodes)} times; the latency probe handles single-chain models only")
        inbound = nodes[0].inbound_layers
        inbound = inbound if isinstance(inbound, list) else [inbound]
        if prev is not None and (len(inbound) != 1 or inbound[0] is not prev):
            raise UserError(f"layer {layer.name!r} does not follow {prev.name!r} in a single chain")
        prev = layer
    return layers


# ---------------------------------------------------------------------------------------------------- channel graph

@dataclass
class Op:
    """One call of a leaf layer: its input and output tensors (ids of the tensor table)."""

    layer: object
    inputs: list[int]
    outputs: list[int]


class ChannelGraph:
    """Channel ids of every tensor and every layer's weight axes, the unions the rules made, and the groups."""

    def __init__(self, model: keras.Model):
        self.model = model
        self.ops: list[Op] = []
        self.shapes: list[tuple] = []  # per tensor
        self.tensor_ids: list[np.ndarray] = []  # per tensor: its channel ids
        self.axes: dict[tuple[int, str], np.ndarray] = {}  # (id(layer), "in"|"out") -> channel ids of that axis
        self.layers: dict[int, object] = {}  # id(layer) -> layer, in model order
        self.n = 0
        self.edges_a: list[np.ndarray] = []
        self.edges_b: list[np.ndarray] = []
        self.fixed: dict[int, str] = {}  # channel id -> why (first reason wins), as (start, stop) ranges below
        self._fixed_ranges: list[tuple[np.ndarray, str]] = []
        self.producer_axes: list[tuple[object, np.ndarray]] = []  # (layer, out-axis ids) of Conv2D / Dense
        self.groups: list[Group] = []
        self._keys: dict[tuple, int] = {}
        self._alias: dict[tuple, tuple] = {}
        self._walk(model, None)
        inputs = [self.tensor(t) for t in model.inputs]
        outputs = [self.tensor(t) for t in model.outputs]
        for t in inputs:
            self.fix(self.tensor_ids[t], "the model's input")
        for t in outputs:
            self.fix(self.tensor_ids[t], "the model's output")
        for op in self.ops:
            if op.layer.name in FROZEN:
                fixed_rule(self, op, FROZEN[op.layer.name])
            else:
                RULES.get(type(op.layer), fixed_rule)(self, op)
        self._solve()

    # -- building
    def new_ids(self, n: int) -> np.ndarray:
        ids = np.arange(self.n, self.n + n, dtype=np.int64)
        self.n += n
        return ids

    def _key(self, t) -> tuple:
        h = t._keras_history
        key = (id(h.layer), h.node_index, h.tensor_index)
        while key in self._alias:
            key = self._alias[key]
        return key

    def tensor(self, t) -> int:
        key = self._key(t)
        if key not in self._keys:
            shape = tuple(t.shape)
            self._keys[key] = len(self.shapes)
            self.shapes.append(shape)
            c = shape[-1] if len(shape) > 1 and shape[-1] is not None else 0
            self.tensor_ids.append(self.new_ids(int(c)))
        return self._keys[key]

    def _walk(self, model, outer_inputs) -> None:
        from .tf import tf

        inner_inputs = list(model.inputs)
        if outer_inputs is not None:
            for t, outer in zip(inner_inputs, outer_inputs):
                self._alias[self._key(t)] = outer
        for depth in sorted(model._nodes_by_depth, reverse=True):
            for node in model._nodes_by_depth[depth]:
                layer = node.layer
                outs = tf.nest.flatten(node.outputs)
                if isinstance(layer, L.InputLayer):
                    continue
                ins = [self._key(t) for t in node.keras_inputs]
                if isinstance(layer, keras.Model):
                    if not getattr(layer, "_is_graph_network", False) or len(layer.inbound_nodes) != 1:
                        raise UserError(f"layer {layer.name!r} is a nested model that is not a single functional "
                                        "call; filter pruning inlines nested models called once")
                    self._walk(layer, ins)
                    for t_outer, t_inner in zip(outs, layer.outputs):
                        self._alias[self._key(t_outer)] = self._key(t_inner)
                    continue
                self.layers.setdefault(id(layer), layer)
                self.ops.append(Op(layer, [self.tensor(t) for t in node.keras_inputs], [self.tensor(t) for t in outs]))

    def axis(self, layer, name: str, n: int) -> np.ndarray:
        """The channel ids of one axis of ``layer``'s weights (shared by every call of the layer)."""
        key = (id(layer), name)
        if key not in self.axes:
            self.axes[key] = self.new_ids(n)
        return self.axes[key]

    def union(self, a: np.ndarray, b: np.ndarray) -> None:
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        if a.shape != b.shape:
            raise AssertionError(f"union of {a.shape} and {b.shape} channels")
        self.edges_a.append(a)
        self.edges_b.append(b)

    def fix(self, ids: np.ndarray, why: str) -> None:
        if len(ids):
            self._fixed_ranges.append((np.asarray(ids, dtype=np.int64), why))

    def channels(self, t: int) -> int:
        return len(self.tensor_ids[t])

    # -- solving
    def _solve(self) -> None:
        a = np.concatenate(self.edges_a) if self.edges_a else np.zeros(0, np.int64)
        b = np.concatenate(self.edges_b) if self.edges_b else np.zeros(0, np.int64)
        self.comp = components(self.n, a, b)
        why = np.full(self.n, -1, dtype=np.int64)
        reasons: list[str] = []
        for ids, text in self._fixed_ranges:
            roots = self.comp[ids]
            new = roots[why[roots] < 0]
            if len(new):
                reasons.append(text)
                why[new] = len(reasons) - 1
        self.fixed_why = why  # indexed by root id
        self.reasons = reasons
        # which producers own each component, and where
        owner: dict[int, list[tuple[int, int]]] = {}  # root -> [(producer index, channel)]
        for p, (layer, ids) in enumerate(self.producer_axes):
            for ch, root in enumerate(self.comp[ids]):
                owner.setdefault(int(root), []).append((p, ch))
        by_producers: dict[tuple[int, ...], list[int]] = {}
        for root, owned in owner.items():
            ps = tuple(sorted({p for p, _ in owned}))
            if len(ps) != len(owned):  # a producer twice in one component: its channels are not separable
                self.fixed_why[root] = self._reason(f"layer {self.producer_axes[ps[0]][0].name!r} meets its own channels")
            by_producers.setdefault(ps, []).append(root)
        names_used: set[str] = set()
        for ps, roots in sorted(by_producers.items()):
            # the group is named by its first producer whose every channel is in it, and ordered by its channels
            whole = [p for p in ps if set(self.comp[self.producer_axes[p][1]].tolist()) <= set(roots)]
            lead = whole[0] if whole else ps[0]
            lead_roots = [int(r) for r in self.comp[self.producer_axes[lead][1]] if int(r) in set(roots)]
            name = self.producer_axes[lead][0].name
            if name in names_used or not whole:
                name = f"{name}:{self._first_channel(lead, lead_roots[0])}"
            names_used.add(name)
            reason = next((self.reasons[self.fixed_why[r]] for r in lead_roots if self.fixed_why[r] >= 0), None)
            self.groups.append(Group(name=name, roots=np.asarray(lead_roots, dtype=np.int64),
                                     producers=[self.producer_axes[p][0].name for p in ps], fixed_by=reason, graph=self))
        self.root_group = np.full(self.n, -1, dtype=np.int64)  # root id -> index of its group
        self.root_pos = np.full(self.n, -1, dtype=np.int64)  # root id -> its channel in that group
        for i, grp in enumerate(self.groups):
            self.root_group[grp.roots] = i
            self.root_pos[grp.roots] = np.arange(len(grp.roots))
        self._members: dict[int, list] | None = None

    def _first_channel(self, p: int, root: int) -> int:
        return int(np.nonzero(self.comp[self.producer_axes[p][1]] == root)[0][0])

    def _reason(self, text: str) -> int:
        self.reasons.append(text)
        return len(self.reasons) - 1

    # -- queries
    def prunable(self) -> list["Group"]:
        return [g for g in self.groups if g.fixed_by is None]

    def group(self, name: str) -> "Group":
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(name)

    def members(self, group: "Group") -> list:
        """(layer, axis, positions along that axis, the group channel of each) of every weight axis in ``group``."""
        if self._members is None:
            self._members = {}
            for (lid, axis), ids in self.axes.items():
                roots = self.comp[ids]
                gi = self.root_group[roots]
                for i in np.unique(gi[gi >= 0]):
                    pos = np.nonzero(gi == i)[0]
                    self._members.setdefault(int(i), []).append((self.layers[lid], axis, pos, self.root_pos[roots[pos]]))
        return self._members.get(self.groups.index(group), [])

    def kept(self, ids: np.ndarray, removed_roots: np.ndarray) -> np.ndarray:
        """Positions along an axis that survive when the components ``removed_roots`` go."""
        return np.nonzero(~np.isin(self.comp[ids], removed_roots))[0]


@dataclass(eq=False)
class Group:
    """Channels kept or removed together: the output channels of every producer in ``producers`` (and the layers
    tied to them). Channel i of the group is channel i of the layer it is named after."""

    name: str
    roots: np.ndarray  # component id of each channel of the group
    producers: list[str]
    fixed_by: str | None  # why it cannot be pruned (None: it can)
    graph: ChannelGraph = field(repr=False)

    @property
    def producer(self) -> str:  # the name old run files, sensitivity files and latency tables use
        return self.name

    @property
    def width(self) -> int:
        return len(self.roots)

    def members(self) -> list[tuple[object, str, np.ndarray, np.ndarray]]:
        """(layer, axis, positions along that axis, group channel of each) for every weight axis in the group."""
        return self.graph.members(self)

    def member_names(self) -> list[str]:
        seen: list[str] = []
        for layer, _, _, _ in self.members():
            if layer.name not in seen:
                seen.append(layer.name)
        return seen

    # the single-chain view (the latency probe's, and older callers')
    @property
    def bn(self) -> str | None:
        return next((l.name for l, a, _, _ in self.members() if isinstance(l, L.BatchNormalization)), None)

    @property
    def consumer(self) -> str | None:
        return next((l.name for l, a, _, _ in self.members() if a == "in" and producer_rule is RULES.get(type(l))
                     and l.name not in self.producers), None)

    @property
    def flatten_hw(self) -> tuple[int, int] | None:
        g = self.graph
        for op in g.ops:
            if isinstance(op.layer, L.Flatten) and len(g.shapes[op.inputs[0]]) == 4:
                if np.isin(g.comp[g.tensor_ids[op.inputs[0]]], self.roots).any():
                    s = g.shapes[op.inputs[0]]
                    return (int(s[1]), int(s[2]))
        return None


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Union-find over ``n`` ids joined by the edges (a[i], b[i]): each id's component root (its smallest id)."""
    parent = np.arange(n, dtype=np.int64)
    if len(a) == 0:
        return parent
    while True:
        pa, pb = parent[a], parent[b]
        if np.array_equal(pa, pb):
            return parent
        lo = np.minimum(pa, pb)
        np.minimum.at(parent, pa, lo)
        np.minimum.at(parent, pb, lo)
        while True:  # pointer jumping: every id points at its root again
            nxt = parent[parent]
            if np.array_equal(nxt, parent):
                break
            parent = nxt


# ------------------------------------------------------------------------------------------------------ layer rules
# A rule sees one call of a layer and joins channel ids (g.union) or fixes them (g.fix). ``RULES`` maps a layer type
# (exactly: DepthwiseConv2D is a Conv2D subclass with its own rule) to its rule; a type without one is fixed. The
# slicing of each type's weights is in pruning/filters/surgery.py's ``SLICERS``.

def fixed_rule(g: ChannelGraph, op: Op, why: str | None = None) -> None:
    text = why or f"layer {op.layer.name!r} ({op.layer.__class__.__name__}), which has no channel rule"
    for t in op.inputs + op.outputs:
        g.fix(g.tensor_ids[t], text)


def _channels_last(layer) -> bool:
    return getattr(layer, "data_format", "channels_last") == "channels_last"


def producer_rule(g: ChannelGraph, op: Op) -> None:
    """Conv2D, Dense: the kernel's input axis is the input's channels, its output axis the output's (removable)."""
    layer = op.layer
    if not _channels_last(layer) or getattr(layer, "groups", 1) != 1 or len(op.inputs) != 1:
        return fixed_rule(g, op, f"layer {layer.name!r} (grouped or channels-first), which filter pruning does not handle")
    kin, kout = int(layer.kernel.shape[-2]), int(layer.kernel.shape[-1])
    g.union(g.tensor_ids[op.inputs[0]], g.axis(layer, "in", kin))
    out_axis = g.axis(layer, "out", kout)
    g.union(g.tensor_ids[op.outputs[0]], out_axis)
    if not any(a is layer for a, _ in g.producer_axes):
        g.producer_axes.append((layer, out_axis))


def tied_rule(g: ChannelGraph, op: Op) -> None:
    """DepthwiseConv2D (depth multiplier 1), BatchNormalization, PReLU: one weight per channel, input = output."""
    layer = op.layer
    n = g.channels(op.inputs[0])
    ok = len(op.inputs) == 1 and g.channels(op.outputs[0]) == n and _channels_last(layer)
    if isinstance(layer, L.DepthwiseConv2D):
        ok = ok and layer.depth_multiplier == 1
    if isinstance(layer, L.BatchNormalization):
        axis = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
        ok = ok and list(axis) in ([-1], [len(g.shapes[op.inputs[0]]) - 1])
    if not ok:
        return fixed_rule(g, op, f"layer {layer.name!r} ({layer.__class__.__name__}) with these settings, which filter "
                                 "pruning does not handle")
    w = g.axis(layer, "in", n)
    g.union(g.tensor_ids[op.inputs[0]], w)
    g.union(g.tensor_ids[op.outputs[0]], w)


def pass_rule(g: ChannelGraph, op: Op) -> None:
    """Channel i in is channel i out: activations, pooling, padding, cropping, dropout, global pooling."""
    if len(op.inputs) != 1 or g.channels(op.inputs[0]) != g.channels(op.outputs[0]) or not _channels_last(op.layer):
        return fixed_rule(g, op)
    g.union(g.tensor_ids[op.inputs[0]], g.tensor_ids[op.outputs[0]])


def activation_rule(g: ChannelGraph, op: Op) -> None:
    """Element-wise activations pass channels through; softmax mixes them (fixed)."""
    act = getattr(op.layer, "activation", None)
    if isinstance(op.layer, L.Softmax) or getattr(act, "__name__", "") in ("softmax", "log_softmax"):
        return fixed_rule(g, op, f"layer {op.layer.name!r} (softmax over channels)")
    pass_rule(g, op)


def rescaling_rule(g: ChannelGraph, op: Op) -> None:
    """Rescaling by scalars passes channels through; per-channel constants would need slicing, so they are fixed."""
    if np.ndim(op.layer.scale) == 0 and np.ndim(op.layer.offset) == 0:
        return pass_rule(g, op)
    fixed_rule(g, op, f"layer {op.layer.name!r} (per-channel Rescaling)")


def reshape_rule(g: ChannelGraph, op: Op) -> None:
    """A Reshape between (C,) and (1, 1, C) passes channels through (a squeeze-excite's)."""
    sin, sout = g.shapes[op.inputs[0]], g.shapes[op.outputs[0]]
    if sin[-1] == sout[-1] and all(d == 1 for d in sin[1:-1]) and all(d == 1 for d in sout[1:-1]):
        return pass_rule(g, op)
    fixed_rule(g, op, f"layer {op.layer.name!r} (a Reshape other than (C,) <-> (1, 1, C))")


def merge_rule(g: ChannelGraph, op: Op) -> None:
    """Add, Subtract, Multiply, Average, Maximum, Minimum: every input's channel i is the output's channel i
    (a squeeze-excite gate of shape (1, 1, C) included); a broadcast over channels is fixed."""
    n = g.channels(op.outputs[0])
    if any(g.channels(t) != n for t in op.inputs):
        return fixed_rule(g, op, f"layer {op.layer.name!r} ({op.layer.__class__.__name__}) broadcasting over channels")
    for t in op.inputs:
        g.union(g.tensor_ids[t], g.tensor_ids[op.outputs[0]])


def concat_rule(g: ChannelGraph, op: Op) -> None:
    """Concatenate on the channel axis: input k's channel i is the output's channel offset_k + i."""
    rank = len(g.shapes[op.outputs[0]])
    if op.layer.axis not in (-1, rank - 1):
        return merge_rule(g, op)
    out = g.tensor_ids[op.outputs[0]]
    offset = 0
    for t in op.inputs:
        n = g.channels(t)
        g.union(g.tensor_ids[t], out[offset:offset + n])
        offset += n


def flatten_rule(g: ChannelGraph, op: Op) -> None:
    """Flatten of (H, W, C): channel c owns the features (i * W + j) * C + c (row, column, channel order)."""
    shape = g.shapes[op.inputs[0]]
    if len(shape) == 2:
        return pass_rule(g, op)
    if len(shape) != 4 or any(d is None for d in shape[1:]) or not _channels_last(op.layer):
        return fixed_rule(g, op)
    h, w, c = (int(d) for d in shape[1:])
    cin = g.tensor_ids[op.inputs[0]]
    out = g.tensor_ids[op.outputs[0]]
    g.union(np.tile(cin, h * w), out)


RULES = {L.Conv2D: producer_rule, L.Dense: producer_rule,
         L.DepthwiseConv2D: tied_rule, L.BatchNormalization: tied_rule, L.PReLU: tied_rule,
         L.Add: merge_rule, L.Subtract: merge_rule, L.Multiply: merge_rule, L.Average: merge_rule,
         L.Maximum: merge_rule, L.Minimum: merge_rule, L.Concatenate: concat_rule, L.Flatten: flatten_rule,
         L.Reshape: reshape_rule, L.Rescaling: rescaling_rule}
for _t in (L.ReLU, L.Activation, L.LeakyReLU, L.ELU, L.Softmax, L.ThresholdedReLU):
    RULES[_t] = activation_rule
for _t in (L.Dropout, L.SpatialDropout2D, L.GaussianNoise, L.GaussianDropout, L.AlphaDropout, L.ActivityRegularization,
           L.MaxPooling2D, L.AveragePooling2D, L.ZeroPadding2D, L.Cropping2D, L.UpSampling2D,
           L.GlobalAveragePooling2D, L.GlobalMaxPooling2D):
    RULES[_t] = pass_rule


# ------------------------------------------------------------------------------------------------------- the API

_GRAPHS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def channel_graph(model: keras.Model) -> ChannelGraph:
    """The model's channel graph (cached on the model object: it never changes once built)."""
    cached = _GRAPHS.get(model)
    if cached is None:
        cached = _GRAPHS[model] = ChannelGraph(model)
    return cached


def groups(model: keras.Model) -> list[Group]:
    """The prunable groups, in the order of their first producer; a UserError when there are none."""
    g = channel_graph(model)
    out = g.prunable()
    if not out:
        why = next((x.fixed_by for x in g.groups if x.fixed_by and x.fixed_by.startswith("layer ")), None)
        raise UserError("the model has no Conv2D or hidden Dense layer whose filters can be removed"
                        + (f" (their channels reach {why})" if why else ""))
    order = {l.name: i for i, l in enumerate(g.layers.values())}
    return sorted(out, key=lambda x: min(order[p] for p in x.producers))


def prunable_group(model: keras.Model, name: str) -> Group:
    """The group named ``name``, or a one-line UserError saying why it cannot be pruned."""
    g = channel_graph(model)
    for x in g.groups:
        if x.name == name or name in x.producers:
            if x.fixed_by:
                raise UserError(f"layer {name!r} cannot be filter-pruned: its channels reach {x.fixed_by}")
            return x
    raise UserError(f"layer {name!r} is not a Conv2D or Dense layer of this model whose filters can be removed")


def widths(model: keras.Model, names=None) -> dict[str, int]:
    """Channels of each prunable group (or of the groups ``names``): the widths filter removal changes."""
    gs = {x.name: x for x in groups(model)}
    names = list(gs) if names is None else list(names)
    return {n: (gs[n] if n in gs else prunable_group(model, n)).width for n in names}
