"""Monte-Carlo propagation of signals through many random Dense stacks.

`propagate` pushes an input through `networks` independent random stacks at
once, with weights drawn as a given Keras initializer draws them (ours,
Keras' He/Glorot/LeCun, `RandomNormal`, ...), and returns every layer's
output norm. It is how the predictions of `keras_fracinit.theory` are
checked.

Gaussian initializers are simulated exactly in `O(networks * width)` per
layer by rotational invariance: given `x`, `W x ~ N(0, sigma^2 ||x||^2 I)`,
so no weight matrix needs to be drawn. Symmetric alpha-stable weights
(`FractionalMomentStable`) likewise by stability: given `x`, the entries of
`W x` are iid SaS(sigma ||x||_alpha), and the norms recorded are then l_alpha
norms. Other laws (truncated normal, uniform) draw the full matrices.
"""

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from numpy.typing import ArrayLike

from keras_fracinit import _checks
from keras_fracinit import initializers
from keras_fracinit.theory import activation as activation_lib

# Keras truncates its truncated normal at two standard deviations and
# rescales it so that the truncated law has the requested variance.
_KERAS_TRUNCATION = 2.0
_KERAS_TRUNCATED_STDDEV_FACTOR = 0.87962566103423978


@dataclasses.dataclass(frozen=True)
class Simulation:
    """Per-layer output norms of many random networks.

    Attributes:
        norms: Array `(networks, depth + 1)`: `||x_k||` for `k = 0..depth`
            (column 0 is the input).
        widths: The layer widths `(n_0, ..., n_L)`.
    """

    norms: np.ndarray
    widths: tuple
    norm_order: float = 2.0

    @property
    def sizes(self) -> np.ndarray:
        """Per-unit size `||x_k||_p / n_k^(1/p)`, `p = norm_order`, shape `(networks, depth + 1)`."""
        return self.norms / np.asarray(self.widths, dtype=np.float64) ** (1.0 / self.norm_order)

    @property
    def rms(self) -> np.ndarray:
        """Per-unit RMS `||x_k|| / sqrt(n_k)`, shape `(networks, depth + 1)` (l_2 norms only)."""
        if self.norm_order != 2.0:
            raise ValueError(
                f"These norms are l_{self.norm_order} norms (alpha-stable weights): use `sizes`, "
                "the per-unit size in that norm."
            )
        return self.sizes

    def s_moments(self, s: float) -> np.ndarray:
        """`E[r_k^s] / r_0^s` per layer for the per-unit size `r` (mean over networks), `(depth + 1,)`."""
        return np.mean((self.sizes / self.sizes[:, :1]) ** s, axis=0)

    def log_norm_ratio(self, layer: int = -1) -> np.ndarray:
        """`log(||x_layer|| / ||x_0||)` per network (`-inf` for a dead signal)."""
        with np.errstate(divide="ignore"):
            return np.log(self.norms[:, layer] / self.norms[:, 0])


def _weight_law(initializer, shape):
    """`(kind, scale)` of the entries a Keras initializer draws for `shape`.

    `kind` is `"normal"` (scale = stddev), `"truncated_normal"` (scale =
    stddev of the untruncated parent, cut at 2 scales, Keras' rule) or
    `"uniform"` (scale = limit). `None` for laws this module cannot read.
    """
    if isinstance(initializer, initializers.FractionalMomentStable):
        return "stable", initializer.scale(shape)
    if isinstance(initializer, initializers.FractionalMomentNormal):
        return "normal", initializer.stddev(shape)
    if isinstance(initializer, initializers.FractionalMomentUniform):
        return "uniform", math.sqrt(3.0) * initializer.stddev(shape)
    if isinstance(initializer, keras.initializers.VarianceScaling):
        fan_in, fan_out = initializers.kernel_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out}.get(initializer.mode, (fan_in + fan_out) / 2.0)
        variance = initializer.scale / max(1.0, fan)
        if initializer.distribution == "untruncated_normal":
            return "normal", math.sqrt(variance)
        if initializer.distribution == "truncated_normal":
            return (
                "truncated_normal",
                math.sqrt(variance) / _KERAS_TRUNCATED_STDDEV_FACTOR,
            )
        return "uniform", math.sqrt(3.0 * variance)
    if isinstance(initializer, keras.initializers.RandomNormal) and initializer.mean == 0:
        return "normal", float(initializer.stddev)
    if isinstance(initializer, keras.initializers.TruncatedNormal) and initializer.mean == 0:
        return "truncated_normal", float(initializer.stddev)
    if isinstance(initializer, keras.initializers.RandomUniform) and (
        initializer.minval == -initializer.maxval
    ):
        return "uniform", float(initializer.maxval)
    return None


def _draw_matrices(kind, scale, shape, rng):
    # float32 halves the cost of the full-matrix path; the norms are
    # accumulated in float64 all the same.
    if kind == "uniform":
        return rng.uniform(-scale, scale, shape).astype(np.float32)
    values = rng.standard_normal(shape, dtype=np.float32)
    if kind == "truncated_normal":
        # resample the few entries outside the cut until none is left
        outside = np.abs(values) > _KERAS_TRUNCATION
        while np.any(outside):
            values[outside] = rng.standard_normal(np.count_nonzero(outside), dtype=np.float32)
            outside = np.abs(values) > _KERAS_TRUNCATION
    return np.float32(scale) * values


def _simulated_activation(activation, per_layer):
    """The one activation to simulate: given, or read from our initializers; never two."""
    theirs = {init.spec for init in per_layer if isinstance(init, initializers._FractionalMomentInitializer)}
    if len(theirs) > 1:
        raise ValueError(
            "Argument `kernel_initializer` must be made for one activation. "
            f"Received: initializers for {sorted(map(repr, theirs))}"
        )
    if activation is None:
        return theirs.pop() if theirs else activation_lib.ActivationSpec("relu")
    spec = activation_lib.as_spec(activation)
    if theirs and spec not in theirs:
        raise ValueError(
            f"Argument `activation` must match the initializer's. Received: "
            f"activation={spec!r} for an initializer made for {theirs.pop()!r}"
        )
    return spec


def _chi_square(degrees, rng):
    """Chi-square draws with per-sample degrees of freedom (0 gives 0)."""
    values = np.zeros(degrees.shape)
    alive = degrees > 0
    values[alive] = rng.chisquare(degrees[alive])
    return values


def _squared_norm_factor(law, width, size, rng):
    """`size` exact draws of `X_m = sum_i (phi(z_i) xi_i / q)^2` for a constant slope `a`.

    Of the `m` units, `K ~ Binomial(m, q)` survive dropout and `B ~
    Binomial(K, 1/2)` of those are positive, so `X_m = (chi^2_B + a^2
    chi^2_(K - B)) / q^2` with the two chi-squares independent.
    """
    kept = rng.binomial(width, law.keep, size) if law.keep < 1.0 else np.full(size, width)
    positive = rng.binomial(kept, 0.5)
    squares = _chi_square(positive, rng)
    if law.lower:
        squares = squares + law.lower**2 * _chi_square(kept - positive, rng)
    return squares / law.keep**2


def _activation(law):
    """Applies phi (random slope for rrelu) and inverted dropout."""

    def apply(z, rng):
        if law.lower == law.upper:
            slope = law.lower
        else:
            slope = rng.uniform(law.lower, law.upper, z.shape)
        out = np.where(z > 0, z, slope * z)
        if law.keep < 1.0:
            out = out * (rng.random(z.shape) < law.keep) / law.keep
        return out

    return apply


def propagate(
    kernel_initializer: Any,
    widths: Sequence[int] | dict[str, int],
    *,
    activation: str | activation_lib.ActivationSpec | None = None,
    networks: int = 2000,
    inputs: ArrayLike | None = None,
    bias_stddev: float = 0.0,
    seed: int | None = None,
) -> Simulation:
    """Propagates inputs through `networks` independent random Dense stacks.

    Layer `k` maps `n_{k-1}` to `n_k` units: `x_k = phi(W_k x_{k-1} + b_k)`
    with `W_k` drawn as `kernel_initializer` draws a `(n_{k-1}, n_k)` kernel,
    fresh and independent for every network and layer, and `b_k ~
    N(0, bias_stddev^2 I)` (zero by default, the paper's setting).

    Args:
        kernel_initializer: A Keras initializer (instance, name or config),
            or a list of them, one per layer. Normal, truncated-normal and
            uniform laws (ours, `VarianceScaling` and its He/Glorot/LeCun
            presets, `RandomNormal`, `TruncatedNormal`, `RandomUniform`) are
            drawn in numpy; the Gaussian ones exactly without matrices.
        widths: Layer widths `(n_0, n_1, ..., n_L)`, or `(width, depth)` as a
            dict `{"width": m, "depth": L}` for a square stack.
        activation: The activation after every layer (dropout included): a
            name or an `ActivationSpec`. Default: the one our initializers
            were made for (they must agree), else `"relu"`. Given together
            with our initializers, it must match theirs.
        networks: Number of independent random stacks.
        inputs: Input vector(s): shape `(n_0,)` (the same input for every
            network) or `(networks, n_0)`. Default: one standard normal vector.
        bias_stddev: Standard deviation of the random biases.
        seed: Seed of the numpy generator (an int or `None`).

    Returns:
        A `Simulation` with `norms` of shape `(networks, L + 1)`.

    Examples:
        >>> import keras_fracinit
        >>> sim = propagate(keras_fracinit.FractionalMomentNormal(1.0),
        ...                 {"width": 64, "depth": 100}, networks=2000, seed=0)
        >>> sim.norms.shape
        (2000, 101)
    """
    if isinstance(widths, dict):
        if sorted(widths) != ["depth", "width"]:
            raise ValueError(
                "Argument `widths` as a dict must hold exactly the keys 'width' and 'depth' (equal "
                f"widths), or be a list of widths. Received: widths={widths!r}"
            )
        depth = _checks.check_positive_int(widths["depth"], "depth")
        widths = [widths["width"]] * (depth + 1)
    widths = tuple(_checks.check_positive_int(w, "widths") for w in widths)
    if len(widths) < 2:
        raise ValueError(f"Argument `widths` needs at least two entries. Received: widths={widths}")
    depth = len(widths) - 1
    if isinstance(kernel_initializer, (list, tuple)):
        if len(kernel_initializer) != depth:
            raise ValueError(
                "Argument `kernel_initializer` must be one initializer or one "
                f"per layer ({depth}). Received: {len(kernel_initializer)} initializers"
            )
        initializers_per_layer = [keras.initializers.get(i) for i in kernel_initializer]
    else:
        initializers_per_layer = [keras.initializers.get(kernel_initializer)] * depth
    law = _simulated_activation(activation, initializers_per_layer).law
    apply_activation = _activation(law)
    rng = np.random.default_rng(seed)

    networks = _checks.check_positive_int(networks, "networks")
    x = rng.standard_normal(widths[0]) if inputs is None else np.asarray(inputs, np.float64)
    if x.shape not in ((widths[0],), (networks, widths[0])):
        raise ValueError(
            f"Argument `inputs` must have shape ({widths[0]},) or "
            f"({networks}, {widths[0]}). Received: shape={x.shape}"
        )
    x = np.broadcast_to(x, (networks, widths[0]))
    laws = _weight_laws(initializers_per_layer, widths)
    order = _norm_order(initializers_per_layer)
    norms = np.empty((networks, depth + 1))
    norms[:, 0] = np.linalg.norm(x, ord=order, axis=1)
    if not bias_stddev and law.lower == law.upper and all(kind == "normal" for kind, _ in laws):
        # Only the norms evolve, each layer multiplying by scale * sqrt(X_m)
        # with X_m drawn exactly: O(networks) per layer instead of O(networks m).
        for k, ((_, scale), n_out) in enumerate(zip(laws, widths[1:]), start=1):
            norms[:, k] = scale * norms[:, k - 1] * np.sqrt(_squared_norm_factor(law, n_out, networks, rng))
        return Simulation(norms=norms, widths=widths)
    for k, ((kind, scale), n_out) in enumerate(zip(laws, widths[1:]), start=1):
        if kind == "stable":
            # stability: given x, W x has iid SaS(scale ||x||_alpha) entries
            z = (scale * norms[:, k - 1])[:, None] * symmetric_stable(order, (networks, n_out), rng)
            z = z + bias_stddev * rng.standard_normal((networks, n_out)) if bias_stddev else z
        else:
            z = _pre_activations(kind, scale, x, norms[:, k - 1], n_out, bias_stddev, rng)
        x = apply_activation(z, rng)
        norms[:, k] = np.linalg.norm(x, ord=order, axis=1)
    return Simulation(norms=norms, widths=widths, norm_order=order)


def _norm_order(per_layer):
    """The norm the stack is measured in: l_alpha for alpha-stable weights, else l_2; never mixed."""
    stable = {init.alpha for init in per_layer if isinstance(init, initializers.FractionalMomentStable)}
    if not stable:
        return 2.0
    if (
        len(stable) > 1
        or len(stable) == 1
        and not all(isinstance(init, initializers.FractionalMomentStable) for init in per_layer)
    ):
        raise ValueError(
            "Argument `kernel_initializer` must not mix alpha-stable weights of different alpha, or "
            "with other laws: the stack's size is measured in one l_alpha norm. Received: "
            f"{[repr(init) for init in per_layer]}"
        )
    return stable.pop()


def symmetric_stable(alpha, shape, rng):
    """SaS(1) draws in numpy (Chambers-Mallows-Stuck), float64.

    Args:
        alpha: Stability index in (0, 2].
        shape: Output shape.
        rng: A `numpy.random.Generator`.

    Returns:
        An array: `z` with `E exp(iuz) = exp(-|u|^alpha)`.
    """
    v = rng.uniform(-0.5 * math.pi, 0.5 * math.pi, shape)
    w = rng.standard_exponential(shape)
    z = np.sin(alpha * v) / np.cos(v) ** (1.0 / alpha)
    return z if alpha == 1.0 else z * (np.cos((1.0 - alpha) * v) / w) ** ((1.0 - alpha) / alpha)


def _weight_laws(per_layer, widths):
    """`(kind, scale)` of each layer's weights, or a clear error for a law that cannot be simulated."""
    laws = []
    for init, n_in, n_out in zip(per_layer, widths[:-1], widths[1:]):
        law = _weight_law(init, (n_in, n_out))
        if law is None:
            raise ValueError(
                "Argument `kernel_initializer` must draw a normal, truncated-normal "
                f"or uniform law with zero mean. Cannot simulate the weights of: {init!r}"
            )
        laws.append(law)
    return laws


def _pre_activations(kind, scale, x, norms, n_out, bias_stddev, rng):
    """`W x (+ b)` for every network, drawing only what the law needs."""
    networks = x.shape[0]
    if kind == "normal":
        # rotational invariance: W x ~ N(0, scale^2 ||x||^2 I) given x
        z = (scale * norms)[:, None] * rng.standard_normal((networks, n_out))
    else:
        kernels = _draw_matrices(kind, scale, (networks, x.shape[1], n_out), rng)
        z = np.einsum("ni,nio->no", x.astype(np.float32), kernels).astype(np.float64)
    if bias_stddev:
        z = z + bias_stddev * rng.standard_normal((networks, n_out))
    return z
