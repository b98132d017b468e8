"""Every weight of a model in `initialize`'s report, once, with what was done to it.

The kernels come from the plans (drawn, calibrated or left, as their
`KernelReport` says); every other weight is left as it was and listed by
its role. A weight whose use cannot be read (a trainable vector that is not
a bias, a normalization's or an embedding's; a matrix held by a layer the
package does not walk) is `WeightRole.NOT_UNDERSTOOD`: `initialize` refuses it
like a kernel outside the class.
"""

import math

from keras_fracinit._graph import weights as weights_lib
from keras_fracinit._graph.weights import WeightRole
from keras_fracinit.model_init.report import WeightOutcome
from keras_fracinit.model_init.report import WeightReport

_OUTCOMES = {
    "initialized": WeightOutcome.DRAWN,
    "calibrated": WeightOutcome.CALIBRATED,
    "skipped": WeightOutcome.LEFT,
}
_LEFT_BECAUSE = {
    WeightRole.BIAS: "biases are not changed",
    WeightRole.NORMALIZATION: "normalization weights keep their Keras initialization",
    WeightRole.EMBEDDING: "embeddings are looked up, not summed: outside the paper's model",
    WeightRole.LORA_FACTOR: "LoRA factors are left (B = 0, so the adapted model equals its base)",
    WeightRole.RECURRENT: "recurrent weights are outside the paper's feed-forward model",
    WeightRole.ACTIVATION: "an activation's parameters are read, not drawn",
    WeightRole.STATE: "not trainable: a buffer or a statistic",
}


def account(model, plans, entries):
    """`WeightReport`s for every weight of `model`, in Keras' order.

    Args:
        model: The model.
        plans: Its `KernelPlan`s.
        entries: Their `KernelReport`s, in the same order.
    """
    kernels = {id(plan.variable): entry for plan, entry in zip(plans, entries)}
    found = []
    for variable, layer_path, holder, role in weights_lib.held_weights(model):
        shape = tuple(int(d) for d in variable.shape)
        common = dict(path=variable.path, layer=layer_path, shape=shape, parameters=math.prod(shape))
        entry = kernels.get(id(variable))
        if entry is not None:
            role = WeightRole.RECURRENT if role is WeightRole.RECURRENT else WeightRole.KERNEL
            found.append(
                WeightReport(
                    role=role,
                    outcome=_OUTCOMES[entry.status],
                    reason=entry.reason if entry.status == "skipped" else "",
                    kernel=entry.layer,
                    **common,
                )
            )
            continue
        reason = _LEFT_BECAUSE.get(role, "")
        if role in (WeightRole.KERNEL, WeightRole.NOT_UNDERSTOOD):
            role, reason = WeightRole.NOT_UNDERSTOOD, _not_understood(holder, variable)
        found.append(WeightReport(role=role, outcome=WeightOutcome.LEFT, reason=reason, **common))
    return tuple(found)


def _not_understood(holder, variable):
    what = "a matrix" if len(variable.shape) >= 2 else "a trainable weight"
    return (
        f"{what} of {type(holder).__name__} '{holder.name}' whose use is not read (not a kernel of a "
        "known layer, a bias, a normalization's or an embedding's)"
    )


def not_understood(weights):
    """The weights of the report whose use the package cannot read."""
    return [weight for weight in weights if weight.role is WeightRole.NOT_UNDERSTOOD]
