"""The model's graph, in one place: its leaf layers, the layers whose weights can be pruned, the layers that hold
weights a file must store, and which channels are coupled in a single-chain model (each prunable layer, the
BatchNorm after it, and the layer that consumes its channels: a Conv2D's input channels, or a Dense's rows behind
Flatten or global pooling)."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError
from .tf import keras

L = keras.layers
PASS_THROUGH = (L.ReLU, L.Activation, L.LeakyReLU, L.ELU, L.PReLU, L.Softmax, L.Dropout, L.SpatialDropout2D,
                L.MaxPooling2D, L.AveragePooling2D, L.ZeroPadding2D, L.Cropping2D, L.GaussianNoise, L.ActivityRegularization)
GLOBAL_POOL = (L.GlobalAveragePooling2D, L.GlobalMaxPooling2D)
INPUT_SIDE = (L.InputLayer, L.Rescaling, L.Normalization, L.Resizing)


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


def is_prunable(layer) -> bool:
    """Conv2D and Dense, whose kernels weight pruning thins (DepthwiseConv2D, a Conv2D subclass, is left dense)."""
    return isinstance(layer, (L.Conv2D, L.Dense)) and not isinstance(layer, L.DepthwiseConv2D)


def prunable_layers(model: keras.Model) -> list:
    """The model's own prunable layers, in model order."""
    return [l for l in model.layers if is_prunable(l)]


def weighted_layers(model: keras.Model) -> list:
    """Every layer whose weights a TFLite file stores (BatchNorm folds into them), nested models included."""
    return [l for l in leaf_layers(model) if isinstance(l, (L.Conv2D, L.Dense, L.DepthwiseConv2D))]


@dataclass
class Group:
    producer: str  # Conv2D or Dense whose output channels may be removed
    bn: str | None  # BatchNormalization right after it
    consumer: str  # the next Conv2D or Dense
    flatten_hw: tuple[int, int] | None  # (H, W) when a Flatten sits between producer and consumer


def chain_layers(model: keras.Model) -> list:
    """The model's layers as one chain, or a UserError naming the layer that breaks it."""
    layers = [l for l in model.layers if not isinstance(l, L.InputLayer)]
    prev = None
    for layer in layers:
        if isinstance(layer, keras.Model):
            raise UserError(f"layer {layer.name!r} is a nested model; filter pruning handles single-chain models only")
        if isinstance(layer, (L.Add, L.Concatenate, L.Multiply, L.Subtract, L.Average, L.Maximum)):
            raise UserError(f"layer {layer.name!r} ({layer.__class__.__name__}) joins branches; filter pruning handles single-chain models only")
        if isinstance(layer, (L.DepthwiseConv2D, L.SeparableConv2D)) or getattr(layer, "groups", 1) != 1:
            raise UserError(f"layer {layer.name!r} is a depthwise or grouped convolution, which filter pruning does not handle")
        nodes = [n for n in layer.inbound_nodes]
        if len(nodes) != 1:
            raise UserError(f"layer {layer.name!r} is used {len(nodes)} times; filter pruning handles single-chain models only")
        inbound = nodes[0].inbound_layers
        inbound = inbound if isinstance(inbound, list) else [inbound]
        if prev is not None and (len(inbound) != 1 or inbound[0] is not prev):
            raise UserError(f"layer {layer.name!r} does not follow {prev.name!r} in a single chain")
        prev = layer
    return layers


def groups(model: keras.Model) -> list[Group]:
    layers = chain_layers(model)
    out: list[Group] = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, (L.Conv2D, L.Dense)):
            continue
        bn = None
        flatten_hw = None
        for nxt in layers[i + 1 :]:
            if isinstance(nxt, (L.Conv2D, L.Dense)):
                if isinstance(layer, L.Dense) and isinstance(nxt, L.Conv2D):
                    break
                out.append(Group(layer.name, bn, nxt.name, flatten_hw))
                break
            if isinstance(nxt, L.BatchNormalization):
                if bn is not None or flatten_hw is not None:
                    raise UserError(f"layer {nxt.name!r}: a second BatchNorm behind {layer.name!r} is not supported")
                bn = nxt.name
            elif isinstance(nxt, L.Flatten):
                shape = nxt.input_shape
                if len(shape) != 4:
                    raise UserError(f"layer {nxt.name!r} flattens a tensor of shape {shape}; expected (H, W, C)")
                flatten_hw = (int(shape[1]), int(shape[2]))
            elif isinstance(nxt, GLOBAL_POOL) or isinstance(nxt, PASS_THROUGH):
                continue
            else:
                raise UserError(f"cannot prune {layer.name!r} through layer {nxt.name!r} ({nxt.__class__.__name__})")
    if not out:
        raise UserError("the model has no Conv2D or hidden Dense layer whose filters can be removed")
    return out


def widths(model: keras.Model, names=None) -> dict[str, int]:
    """Output channels of each group's producer (or of the layers ``names``): the widths filter removal changes."""
    names = [g.producer for g in groups(model)] if names is None else list(names)
    return {n: int(model.get_layer(n).kernel.shape[-1]) for n in names}
