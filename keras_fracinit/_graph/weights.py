"""Every weight of a model, found through Keras' own tracking, with the role it plays.

`initialize` must account for every weight, not only those named `kernel`.
Keras tracks each variable in the layer that created it (`add_weight`);
`held_weights` walks the layers and their sublayers and gives each variable
once, with the innermost layer that holds it. `role` reads what a weight is
off the type of the layer that holds it and the weight's name and rank:

- LoRA factors (`lora_kernel_a`, `lora_kernel_b`), whatever the layer;
- recurrent weights: anything inside an RNN layer or cell;
- embeddings: the weights of an embedding layer (an `Embedding`, or a type
  whose name says `Embedding`: keras_hub's position and relative-position
  tables), or a weight named `*embed*` or `*token*` (class tokens);
- normalization or scale: the weights of a normalization or per-unit
  scale layer (a type whose name says `Norm` or `Scale`, as ConvNeXt's
  `LayerScale`), or one named `gamma`, `beta` or `scale`;
- activation parameters: a `PReLU`'s slopes;
- biases: named `bias` (or `*_bias`, or `b`);
- state: anything else that is not trainable (counters, buffers);
- matrices: any other weight of rank 2 or more, which a layer can only use
  as a linear map: a kernel, found by `fans`, drawn or calibrated;
- not understood: anything else (a trainable vector with no known use).
"""

import enum

import keras

from keras_fracinit._backend import keras_private


class WeightRole(enum.Enum):
    """What a weight is, for the report (values are what the report prints)."""

    KERNEL = "kernel"
    BIAS = "bias"
    NORMALIZATION = "normalization or scale"
    EMBEDDING = "embedding"
    LORA_FACTOR = "LoRA factor"
    RECURRENT = "recurrent"
    ACTIVATION = "activation parameter"
    STATE = "state"
    NOT_UNDERSTOOD = "not understood"


_RECURRENT = (keras.layers.RNN, keras.layers.Bidirectional)


def _is_recurrent(layer):
    # A cell (LSTMCell, GRUCell, a user's cell) is run by an RNN layer step by step.
    return isinstance(layer, _RECURRENT) or type(layer).__name__.endswith("Cell")


def _short_name(weight):
    return weight.name.rsplit("/", 1)[-1].lower()


def role(layer, weight, recurrent=False):
    """The `WeightRole` of `weight`, held directly by `layer` (`recurrent`: inside an RNN)."""
    name = _short_name(weight)
    if name.startswith("lora_"):
        return WeightRole.LORA_FACTOR
    if recurrent or _is_recurrent(layer):
        return WeightRole.RECURRENT
    embedding_layer = isinstance(layer, keras.layers.Embedding) or "Embedding" in type(layer).__name__
    if embedding_layer or "embed" in name or "token" in name:
        return WeightRole.EMBEDDING
    if any(word in type(layer).__name__ for word in ("Norm", "Scale")) or name in ("gamma", "beta", "scale"):
        return WeightRole.NORMALIZATION
    if isinstance(layer, keras.layers.PReLU):
        return WeightRole.ACTIVATION
    if name == "b" or name.endswith("bias"):
        return WeightRole.BIAS
    if not weight.trainable and not name.endswith("kernel"):
        return WeightRole.STATE
    if len(weight.shape) >= 2:
        return WeightRole.KERNEL
    return WeightRole.NOT_UNDERSTOOD


def is_matrix(layer, weight):
    """Whether `weight`, held by `layer` outside any RNN, can only be a kernel (a linear map)."""
    return role(layer, weight) is WeightRole.KERNEL


def own_weights(layer):
    """The weights `layer` created itself, not those of its sublayers."""
    inner = {id(w) for sub in keras_private.sublayers(layer) for w in sub.weights}
    return [w for w in layer.weights if id(w) not in inner]


def held_weights(model):
    """`[(variable, holder path, holder layer, role)]`: every weight of `model` once, in Keras' order.

    The holder is the innermost layer that created the variable; its path
    joins the names of the layers around it (`block/ffn/dense`). A variable
    shared by several layers is given once, with the first holder found.
    """
    holders = {}

    def visit(layer, path, recurrent):
        recurrent = recurrent or _is_recurrent(layer)
        for weight in own_weights(layer):
            holders.setdefault(id(weight), (path, layer, role(layer, weight, recurrent)))
        for sub in keras_private.sublayers(layer):
            visit(sub, f"{path}/{sub.name}" if path else sub.name, recurrent)

    for sub in keras_private.sublayers(model):
        visit(sub, sub.name, False)
    for weight in own_weights(model):  # a subclassed model's own add_weight
        holders.setdefault(id(weight), (model.name, model, role(model, weight)))
    found, seen = [], set()
    for weight in model.weights:
        if id(weight) in seen:
            continue
        seen.add(id(weight))
        path, holder, weight_role = holders.get(id(weight), (model.name, model, WeightRole.NOT_UNDERSTOOD))
        found.append((weight, path, holder, weight_role))
    return found
