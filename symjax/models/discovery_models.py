"""Models of the five discovery experiments of reference 001 (§3.1–3.3), for the lane engine.

Every model is a frozen spec with

* ``init(key) -> params`` and ``apply(params, x_batch) -> predictions``;
* ``penalty(params, hyper) -> scalar`` (the training regulariser; ``hyper`` a
  dict of traced float32 scalars whose keys are ``model.hyper_keys``), or
  ``penalty = None`` when the model has none;
* ``weight(params)`` where the model has one generic weight: the reference's
  tensor layout, used by heat maps and sharing scores, and ``matrix(params)``:
  the same numbers as the (out, in) matrix that the group actions
  ``action_out`` / ``action_in`` index (symjax's 'out_in' layout);
* ``symmetry_error(params, key, x_batch)``: eq. 8 of the study under the
  experiment's true group (``symjax.metrics.symmetry_error``).

Sharing variants of one generic weight W (``sharing=``):

* ``'generic'``: W free, the reference's regulariser (set_sum: sigmoid
  sparsity; images: offset sharing, optional L1; degree: none).
* ``'hard'``: W = coeffs[M] from symjax's orbit engine (``SharedDense``
  without bias) for the true group: S_10 (set_sum, degree), cyclic translations
  C_10 / C_10 x C_10 / C_28 x C_28 (images). Exactly equivariant.
* ``'soft'``: W free, penalty lam * ||W - P_G W||^2 (``discovery.orbit_tie``)
  for the true group.

Baselines: ``DeepSets`` (set_sum), ``CNN`` (images) and ``GCN`` (degree).

Shapes (B = batch):

===============  ====================  ==============  ====================================
experiment       x                     prediction      generic weight (reference layout)
===============  ====================  ==============  ====================================
set_sum          (B, 10)               (B, 1)          (10, 10)
translation_1d   (B, 10)               (B, 5) logits   (5, 10, 10) class, translation, pixel
translation_2d   (B, 10, 10)           (B, 3) logits   (3, 10, 10, 10, 10)
mnist            (B, 56, 56)           (B, 10) logits  (10, 28, 28, 56, 56)
degree           (B, 10, 10)           (B, 10)         (10, 10)
===============  ====================  ==============  ====================================
"""

from __future__ import annotations

import dataclasses
import functools
import itertools

import jax
import jax.numpy as jnp
import jraph
import numpy as np

from symjax import actions, discovery, groups
from symjax.functional import Dense, SharedDense, normal
from symjax.functional import init as init_spec
from symjax.metrics import symmetry_error
from symjax.models.sequential import Sequential
from symjax.train import LaneFns

__all__ = [
    "ACTIVATIONS",
    "CNN",
    "EXPERIMENTS",
    "LOSSES",
    "IMAGE_EXPERIMENTS",
    "model_choices",
    "correlation_counts",
    "correlation_index",
    "training_loss",
    "VARIANTS",
    "build_model",
    "check_hyper_values",
    "lane_fns",
    "DeepSets",
    "DegreeMLP",
    "GCN",
    "SHARINGS",
    "SetSumLinear",
    "TranslationModel",
    "degree_accuracy",
    "torus_action",
]

ACTIVATIONS = {
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "elu": jax.nn.elu,
    "relu": jax.nn.relu,
    "identity": lambda h: h,
}
SHARINGS = ("generic", "hard", "soft")


def _check_choice(what: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {tuple(allowed)}; got {value!r}")


def _check_hyper(hyper, keys: tuple, model) -> None:
    missing = [k for k in keys if k not in hyper]
    if missing:
        raise KeyError(f"{type(model).__name__} penalty needs hyper keys {keys}; missing {missing} in "
                       f"{sorted(hyper)}")


# -- group actions ------------------------------------------------------------------------------------

def torus_action(group: groups.PermutationGroup, dims: tuple, strides: tuple, channels: int = 1) -> actions.Action:
    """``group`` = C_{n_1} x ... x C_{n_a} translating a row-major grid ``dims`` cyclically.

    Generator a moves grid point p to p + strides[a] e_a (mod dims[a]); each
    grid point carries ``channels`` channels (index p * channels + c).
    """
    if len(dims) != len(strides) or group.num_generators != len(dims):
        raise ValueError(f"expected one stride per grid axis and one group generator per axis; got dims {dims}, "
                         f"strides {strides}, {group.num_generators} generators")
    grid = np.arange(int(np.prod(dims))).reshape(dims)
    images = np.stack([np.roll(grid, -s, axis=a).reshape(-1) for a, s in enumerate(strides)])
    return actions.blocks(actions.from_images(group, images), channels)


def translation_group(counts: tuple) -> groups.PermutationGroup:
    """C_{counts[0]} (x C_{counts[1]}): the cyclic translations of a 1-D or 2-D grid."""
    group = groups.cyclic(counts[0])
    for n in counts[1:]:
        group = groups.direct_product(group, groups.cyclic(n))
    return group


def _free_weight(key, shape, fan_in: int):
    """N(0, 1 / fan_in) entries (LeCun normal, the scale of symjax's dense layers)."""
    return normal(1.0 / np.sqrt(fan_in))(key, shape, jnp.float32)


# -- set_sum (§3.1) -----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _SquareOnSn:
    """What the set_sum and degree models share: one (n, n) weight with S_n acting on both of its
    indices; 'hard' stores the orbit coefficients of SharedDense(base(S_n), base(S_n)) instead."""

    n: int = 10
    sharing: str = "generic"

    def __post_init__(self):
        _check_choice("sharing", self.sharing, SHARINGS)

    @property
    def group(self):
        return groups.symmetric(self.n)

    @property
    def action_in(self):
        return actions.base(self.group)

    @property
    def action_out(self):
        return self.action_in

    @property
    def shared(self) -> SharedDense:
        return SharedDense(self.action_in, self.action_out, use_bias=False, parametrization="standard")

    def init(self, key):
        if self.sharing == "hard":
            return init_spec(key, self.shared)
        return {"w": _free_weight(key, (self.n, self.n), self.n)}


@dataclasses.dataclass(frozen=True)
class SetSumLinear(_SquareOnSn):
    """The reference's set model: y = sum_o (W x)_o, W (n, n) = sum pooling after a linear map.

    Invariant to permutations of x iff all column sums of W are equal (the
    reference's criterion: |colsum(W) - 1| small, §3.1). generic penalty:
    lam * sum_ij sigmoid(100 W_ij) (the reference's regulariser with lam = 0.01).
    """

    @property
    def hyper_keys(self) -> tuple:
        return () if self.sharing == "hard" else ("lam",)

    def matrix(self, params):
        return self.shared.weights(params) if self.sharing == "hard" else params["w"]

    weight = matrix

    def apply(self, params, x):
        return jnp.sum(x @ self.matrix(params).T, axis=-1, keepdims=True)

    @property
    def penalty(self):
        if self.sharing == "hard":
            return None

        def penalty(params, hyper):
            _check_hyper(hyper, self.hyper_keys, self)
            w = params["w"]
            term = (discovery.sigmoid_sparsity(w, scale=100.0) if self.sharing == "generic"
                    else discovery.orbit_tie(w, self.action_out, self.action_in, layout="out_in"))
            return hyper["lam"] * term
        return penalty

    def symmetry_error(self, params, key, x):
        return symmetry_error(lambda v: self.apply(params, v), x, self.action_in,
                              actions.trivial(self.group, 1), key)


@dataclasses.dataclass(frozen=True)
class DeepSets:
    """DeepSets baseline (Zaheer et al. 2017): y = rho(sum_i phi(x_i)).

    phi: 1 -> width -> width, rho: width -> width -> 1, ReLU between layers
    (widths are our choice; the reference does not give its own).
    """

    n: int = 10
    width: int = 32

    @property
    def phi(self):
        return Sequential((Dense(1, self.width), Dense(self.width, self.width)), "relu")

    @property
    def rho(self):
        return Sequential((Dense(self.width, self.width), Dense(self.width, 1)), "relu")

    hyper_keys = ()
    penalty = None

    def init(self, key):
        k1, k2 = jax.random.split(key)
        return {"phi": self.phi.init(k1), "rho": self.rho.init(k2)}

    def apply(self, params, x):
        h = jax.nn.relu(self.phi.apply(params["phi"], x[..., None]))  # (B, n, width)
        return self.rho.apply(params["rho"], jnp.sum(h, axis=-2))

    def symmetry_error(self, params, key, x):
        group = groups.symmetric(self.n)
        return symmetry_error(lambda v: self.apply(params, v), x, actions.base(group),
                              actions.trivial(group, 1), key)


# -- translations (§3.2) ------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class TranslationModel:
    """The reference's generic per-class translation model (§3.2, Figure 3).

    Weight W (C, *T, *P): for class k and translation t, a template over the
    pixels p (T = dims // stride translations per axis, P = image dims):

        s[b, k, t] = sum_p W[k, t, p] x[b, p] (+ c_k)       one matmul (B, |P|) @ (|P|, C |T|)
        logit[b, k] = mean_t act(s[b, k, t])

    (softmax in the cross-entropy). The reference's weight is its only
    parameter; ``bias=True`` adds a per-class bias c_k inside the activation
    (params 'class_bias' (C,), zeros at init; translation-invariant, so the
    same in every sharing variant). The true symmetry: translations t -> t + e_a,
    pixels p -> p + stride e_a (mod dims), C_{T_1} (x C_{T_2}) acting on both.

    Initialisation: every entry of W ~ N(0, init_std^2) in all three sharing
    variants (hard: each orbit coefficient); ``init_std=None`` is LeCun's
    1 / sqrt(|P|). The scale matters here: with |s| << 1, act(s) ~ act(0) +
    act'(0) s and mean_t s[b, k, t] = (sum_t W[k, t] / |T|) . x, which for the
    hard-shared W is (sum_p w_k[p]) (sum_p x[p]) / |T|: to first order the logits
    see only the number of bright pixels, and the shape enters through the
    curvature of act alone.

    generic penalty (reference eq. in §3.2):
        lam * sum |W[k, t, p] - W[k, t + b, p + b']|   (wrapping)  + l1 * sum |W|  (when l1)
    with b = offsets[0] on every translation axis and b' = offsets[1] on every pixel axis.
    """

    num_classes: int
    image_shape: tuple
    stride: int = 1
    activation: str = "elu"
    sharing: str = "generic"
    offsets: tuple = (1, 1)
    l1: bool = False
    bias: bool = False
    init_std: float | None = None

    def __post_init__(self):
        _check_choice("sharing", self.sharing, SHARINGS)
        _check_choice("activation", self.activation, tuple(ACTIVATIONS))
        if self.init_std is not None and (isinstance(self.init_std, bool) or not isinstance(self.init_std, (int, float))
                                          or not 0 < self.init_std < np.inf):
            raise ValueError(f"init_std must be a finite number > 0 (None: 1 / sqrt(pixels)); got {self.init_std!r}")
        dims = tuple(self.image_shape)
        if not dims or any(d % self.stride for d in dims):
            raise ValueError(f"image dims {dims} must be multiples of the stride {self.stride}")
        b, b2 = self.offsets
        if not (0 <= b < min(self.translations) and 0 <= b2 < min(dims)):
            raise ValueError(f"offsets (b, b') must satisfy 0 <= b < {min(self.translations)} (translations per "
                             f"axis) and 0 <= b' < {min(dims)} (image size); got {tuple(self.offsets)}")

    @property
    def translations(self) -> tuple:
        return tuple(d // self.stride for d in self.image_shape)

    @property
    def num_pixels(self) -> int:
        return int(np.prod(self.image_shape))

    @property
    def num_translations(self) -> int:
        return int(np.prod(self.translations))

    @property
    def weight_shape(self) -> tuple:
        return (self.num_classes,) + self.translations + tuple(self.image_shape)

    @property
    def group(self):
        return translation_group(self.translations)

    @property
    def action_in(self):
        """Pixels, translated by ``stride`` per generator."""
        return torus_action(self.group, tuple(self.image_shape), (self.stride,) * len(self.image_shape))

    @property
    def action_out(self):
        """(translation, class) indices, translation-major: index t * C + k."""
        return torus_action(self.group, self.translations, (1,) * len(self.translations), self.num_classes)

    @property
    def shared(self) -> SharedDense:
        return SharedDense(self.action_in, self.action_out, use_bias=False, parametrization="standard")

    @property
    def hyper_keys(self) -> tuple:
        if self.sharing == "hard":
            return ()
        return ("lam", "l1") if (self.sharing == "generic" and self.l1) else ("lam",)

    def _to_tensor(self, matrix):
        """(|T| C, |P|) translation-major matrix -> (C, *T, *P)."""
        t = matrix.reshape(self.num_translations, self.num_classes, self.num_pixels)
        return jnp.swapaxes(t, 0, 1).reshape(self.weight_shape)

    def init(self, key):
        if self.init_std is not None:
            shape = self.shared.param_info()["w"][0] if self.sharing == "hard" else self.weight_shape
            params = {"w": normal(float(self.init_std))(key, shape, jnp.float32)}
        elif self.sharing == "hard":
            params = init_spec(key, self.shared)
        else:
            params = {"w": _free_weight(key, self.weight_shape, self.num_pixels)}
        if self.bias:
            params["class_bias"] = jnp.zeros((self.num_classes,), jnp.float32)
        return params

    def weight(self, params):
        """W (C, *T, *P)."""
        return self._to_tensor(self.shared.weights(params)) if self.sharing == "hard" else params["w"]

    def matrix(self, params):
        """W as the (|T| C, |P|) matrix that action_out / action_in index."""
        if self.sharing == "hard":
            return self.shared.weights(params)
        w = params["w"].reshape(self.num_classes, self.num_translations, self.num_pixels)
        return jnp.swapaxes(w, 0, 1).reshape(self.num_translations * self.num_classes, self.num_pixels)

    def apply(self, params, x):
        flat = x.reshape(x.shape[0], self.num_pixels)
        w = self.weight(params).reshape(self.num_classes * self.num_translations, self.num_pixels)
        s = (flat @ w.T).reshape(x.shape[0], self.num_classes, self.num_translations)
        if self.bias:
            s = s + params["class_bias"][:, None]
        return jnp.mean(ACTIVATIONS[self.activation](s), axis=-1)

    @property
    def penalty(self):
        if self.sharing == "hard":
            return None
        n_t = len(self.translations)

        def penalty(params, hyper):
            _check_hyper(hyper, self.hyper_keys, self)
            w = params["w"]
            if self.sharing == "soft":
                return hyper["lam"] * discovery.orbit_tie(self.matrix(params), self.action_out, self.action_in,
                                                  layout="out_in")
            b, b2 = self.offsets
            axes = tuple(range(1, 1 + 2 * n_t))
            total = hyper["lam"] * discovery.offset_tie(w, (b,) * n_t + (b2,) * n_t, axes, wrap=True, p=1)
            if self.l1:
                total = total + hyper["l1"] * discovery.l1(w)
            return total
        return penalty

    def symmetry_error(self, params, key, x):
        """Eq. 8 for the invariant logits under cyclic pixel translations by ``stride``."""
        flat = x.reshape(x.shape[0], self.num_pixels)
        f = lambda v: self.apply(params, v.reshape((v.shape[0],) + tuple(self.image_shape)))
        return symmetry_error(f, flat, self.action_in, actions.trivial(self.group, self.num_classes), key)


def correlation_counts(image_shape: tuple, kernel: tuple, stride: int, padding: str) -> tuple:
    """Output positions per axis of the correlation: ceil(d / stride) ('circular'), (d - k) // stride + 1 ('valid')."""
    if padding == "circular":
        return tuple(-(-int(d) // stride) for d in image_shape)
    return tuple((int(d) - int(k)) // stride + 1 for d, k in zip(image_shape, kernel))


@functools.lru_cache(maxsize=None)
def correlation_index(image_shape: tuple, kernel: tuple, stride: int, padding: str) -> tuple:
    """Integer maps (numpy int32, read-only, built once per shape) of a strided correlation as gather + matmul.

    With dims (d_0, *rest), kernel (k_0, *krest), positions (n_0, *nrest)
    (``correlation_counts``), R = prod(rest), Q = prod(nrest), K = prod(kernel):

    * ``rows`` (n_0, k_0): the image row o * stride + j seen by position o and
      kernel row j (modulo d_0 for 'circular');
    * ``band`` (k_0 R, Q): for kernel row j, pixel r of the remaining axes and
      remaining position q, the flat kernel index of the weight that multiplies
      that pixel (kernel offset r - stride q, modulo the image for 'circular'),
      or K where the window of q does not cover r (a zero).

    Then y[b, o, :, q] = x[b, rows[o]].reshape(k_0 R) @ band_kernel with
    band_kernel[(j, r), (c, q)] = [kernel_c, 0][band[(j, r), q]]: one gather of
    image rows and one matmul. Memory n_0 k_0 R floats per example (MNIST:
    15 x 28 x 56, an eighth of the 15 x 15 x 28 x 28 patches); 1-D: the patches.
    """
    dims, kernel = tuple(int(d) for d in image_shape), tuple(int(k) for k in kernel)
    counts = correlation_counts(dims, kernel, stride, padding)
    rows = (np.arange(counts[0])[:, None] * stride + np.arange(kernel[0])[None, :]) % dims[0]
    rest, krest, nrest = dims[1:], kernel[1:], counts[1:]
    grid = lambda shape: np.array(list(itertools.product(*map(range, shape))), np.int64).reshape(
        int(np.prod(shape)), len(shape))
    pixels, positions = grid(rest)[:, None], grid(nrest)[None]  # row-major; (1, 0) entries in 1-D
    offset = pixels - stride * positions  # (R, Q, axes)
    if padding == "circular":
        offset = offset % np.array(rest, np.int64)
    inside = np.all((offset >= 0) & (offset < np.array(krest, np.int64)), axis=-1)  # (R, Q)
    flat = np.zeros(inside.shape, np.int64)
    for a, k in enumerate(krest):
        flat = flat * k + np.where(inside, offset[..., a], 0)
    size_rest = int(np.prod(krest))
    band = np.where(inside[None], np.arange(kernel[0])[:, None, None] * size_rest + flat[None],
                    int(np.prod(kernel)))  # (k_0, R, Q)
    out = rows.astype(np.int32), band.reshape(-1, inside.shape[1]).astype(np.int32)
    for a in out:
        a.setflags(write=False)
    return out


@dataclasses.dataclass(frozen=True)
class CNN:
    """Single-layer CNN baseline: conv (1 -> num_classes channels) + bias, act, mean over positions.

    Each output channel is one class (no dense layer after the convolution, as
    the reference's MNIST baseline). Our choices: ``padding='circular'``
    (wrap; equivariant to the cyclic translations of the data, output size
    dims / stride) or ``'valid'``; the head (act then mean over positions) is
    the generic model's head. Kernel (C, 1, *kernel), LeCun normal.

    ``apply`` computes the correlation as one gather of image rows and one
    matmul with a banded copy of the kernel (``correlation_index``: integer
    maps built once per shape with numpy): under the engine's vmap over lanes
    (and, in the symmetry error, over test examples and group samples) a
    batched gather and a batched matmul. ``apply_conv`` is the same model
    through ``lax.conv_general_dilated``, the reference the tests compare
    ``apply`` with; vmapped over lanes it is a convolution with a lane-batched
    kernel, which XLA:CPU runs slowly. MNIST CNN, 3 lanes, 2 shared CPU cores
    (docs/results/discovery/mnist/cnn_baseline.md): an epoch took 63 s with
    ``apply_conv`` and 2-3 s with ``apply``; the evaluation with the eq.-8
    symmetry error on 2k test examples (2 samples) 754 s and 36 s. Memory: the
    gathered rows are n_0 k_0 R floats per example (MNIST 15 x 28 x 56) for
    every lane, test example and group element of the evaluation at once:
    with ``--eval_batch_size=4096`` that evaluation peaked at 7.1 GB resident,
    at 512 at 1.6 GB in the same time. The plain patch gather
    (B, 225, 784) @ (784, 10) costs half the FLOPs but 7.5 times the memory
    and ran 3 times slower than the banded matmul.
    """

    num_classes: int
    image_shape: tuple
    kernel: tuple
    stride: int = 1
    padding: str = "circular"
    activation: str = "elu"

    hyper_keys = ()
    penalty = None

    def __post_init__(self):
        _check_choice("padding", self.padding, ("circular", "valid"))
        _check_choice("activation", self.activation, tuple(ACTIVATIONS))
        if len(self.kernel) != len(self.image_shape) or any(k > d for k, d in zip(self.kernel, self.image_shape)):
            raise ValueError(f"kernel {self.kernel} must have one size per image axis {self.image_shape}, "
                             "each at most the image size")

    @property
    def positions(self) -> tuple:
        """Output positions per axis (``correlation_counts``)."""
        return correlation_counts(tuple(self.image_shape), tuple(self.kernel), int(self.stride), self.padding)

    @property
    def index(self) -> tuple:
        """(rows, band) integer maps of ``apply`` (``correlation_index``)."""
        return correlation_index(tuple(self.image_shape), tuple(self.kernel), int(self.stride), self.padding)

    def init(self, key):
        return {"kernel": _free_weight(key, (self.num_classes, 1) + tuple(self.kernel), int(np.prod(self.kernel))),
                "bias": jnp.zeros((self.num_classes,), jnp.float32)}

    def apply(self, params, x):
        """Logits (B, C) of images x (B, *dims): gathered rows (B, n_0, k_0 R) @ banded kernel (k_0 R, C Q)."""
        rows, band = self.index
        kernel = params["kernel"]
        c, q = self.num_classes, band.shape[1]
        h = x.reshape(x.shape[0], self.image_shape[0], -1).astype(kernel.dtype)  # (B, d_0, R)
        h = h.at[:, rows].get(mode="promise_in_bounds").reshape(x.shape[0], rows.shape[0], -1)
        padded = jnp.concatenate([kernel.reshape(c, -1), jnp.zeros((c, 1), kernel.dtype)], axis=1)
        banded = padded.at[:, band].get(mode="promise_in_bounds")  # (C, k_0 R, Q)
        banded = jnp.swapaxes(banded, 0, 1).reshape(band.shape[0], c * q)
        y = (h @ banded).reshape(x.shape[0], rows.shape[0], c, q) + params["bias"][:, None]
        return jnp.mean(ACTIVATIONS[self.activation](y), axis=(1, 3))

    def apply_conv(self, params, x):
        """``apply`` through ``lax.conv_general_dilated`` (the reference implementation; same numbers)."""
        h = x[:, None].astype(params["kernel"].dtype)  # (B, 1, *dims)
        if self.padding == "circular":
            h = jnp.pad(h, [(0, 0), (0, 0)] + [(0, k - 1) for k in self.kernel], mode="wrap")
        nd = len(self.image_shape)
        spatial = "DHW"[-nd:] if nd <= 3 else None
        dn = jax.lax.conv_dimension_numbers(h.shape, params["kernel"].shape,
                                            ("NC" + spatial, "OI" + spatial, "NC" + spatial))
        y = jax.lax.conv_general_dilated(h, params["kernel"], (self.stride,) * nd, "VALID", dimension_numbers=dn)
        y = y + params["bias"].reshape((1, -1) + (1,) * nd)
        return jnp.mean(ACTIVATIONS[self.activation](y), axis=tuple(range(2, 2 + nd)))

    def symmetry_error(self, params, key, x):
        counts = tuple(d // self.stride for d in self.image_shape)
        group = translation_group(counts)
        pixels = torus_action(group, tuple(self.image_shape), (self.stride,) * len(counts))
        f = lambda v: self.apply(params, v.reshape((v.shape[0],) + tuple(self.image_shape)))
        return symmetry_error(f, x.reshape(x.shape[0], -1), pixels, actions.trivial(group, self.num_classes), key)


# -- degree (§3.3) ------------------------------------------------------------------------------------

def degree_accuracy(pred, y):
    """Fraction of nodes whose degree is exactly right after clamping to (-0.5, 9.5) and rounding (§3.3).

    pred, y: (..., n) arrays (numpy or jax); returns a scalar.
    """
    xp = jnp if isinstance(pred, jax.Array) else np
    n = pred.shape[-1]
    rounded = xp.round(xp.clip(pred, -0.5, n - 0.5))
    return xp.mean((rounded == y).astype(xp.float32))


@dataclasses.dataclass(frozen=True)
class DegreeMLP(_SquareOnSn):
    """The reference's degree model (§3.3): y_i = sum_k relu(sum_j A_ij W_kj), W (n, n), no bias.

    W = I gives the degrees exactly. S_n-equivariant if W commutes with every
    permutation matrix, i.e. W = a I + b 1 1^T (the hard-shared form). Not
    only if: the hidden units k are summed after an elementwise relu, so
    P W computes the same function for every permutation P (W = a derangement's
    permutation matrix is exact too), and rows that relu always zeroes do not
    count; ``discovery.sharing_score(..., hidden='align')`` sees through the
    first, the eq.-8 symmetry error through both.
    generic: no penalty (the reference uses none); soft: lam * orbit_tie.
    """

    @property
    def hyper_keys(self) -> tuple:
        return ("lam",) if self.sharing == "soft" else ()

    def matrix(self, params):
        return self.shared.weights(params) if self.sharing == "hard" else params["w"]

    weight = matrix

    def apply(self, params, x):
        return jnp.sum(jax.nn.relu(x @ self.matrix(params).T), axis=-1)

    @property
    def penalty(self):
        if self.sharing != "soft":
            return None

        def penalty(params, hyper):
            _check_hyper(hyper, self.hyper_keys, self)
            return hyper["lam"] * discovery.orbit_tie(params["w"], self.action_out, self.action_in,
                                                         layout="out_in")
        return penalty

    def symmetry_error(self, params, key, x):
        return _degree_symmetry_error(self, params, key, x)


def _degree_symmetry_error(model, params, key, x):
    """Eq. 8 with S_n acting on adjacency entries (i, j) -> (g i, g j) and on node outputs."""
    group = groups.symmetric(model.n)
    f = lambda v: model.apply(params, v.reshape(v.shape[0], model.n, model.n))
    return symmetry_error(f, x.reshape(x.shape[0], -1), actions.tuples(group, 2), actions.base(group), key)


@functools.lru_cache(maxsize=None)
def _all_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Senders, receivers of the n (n - 1) ordered pairs i != j."""
    s, r = np.nonzero(~np.eye(n, dtype=bool))
    return s.astype(np.int32), r.astype(np.int32)


@dataclasses.dataclass(frozen=True)
class GCN:
    """Two-layer graph convolution baseline (Kipf & Welling) on jraph: 1 -> hidden -> 1 node channels.

    h1 = relu(GC(x W1) + b1), y = GC(h1 W2) + b2, with GC the symmetric-normalised
    aggregation over neighbours and self-loops (``jraph.GraphConvolution``) and
    node input x = 1. Static shapes: a batch of B dense graphs becomes one
    GraphsTuple of B n + 1 nodes and B n (n - 1) edge slots, one per ordered
    node pair; the slot of an absent edge points at the extra padding node, so
    it adds nothing to the real nodes' sums or degrees.
    """

    n: int = 10
    hidden: int = 10

    hyper_keys = ()
    penalty = None

    def init(self, key):
        k1, k2 = jax.random.split(key)
        return {"layer_0": {"kernel": _free_weight(k1, (1, self.hidden), 1), "bias": jnp.zeros((self.hidden,))},
                "layer_1": {"kernel": _free_weight(k2, (self.hidden, 1), self.hidden), "bias": jnp.zeros((1,))}}

    def graphs(self, adjacency) -> jraph.GraphsTuple:
        """Dense (B, n, n) 0/1 adjacency -> one padded GraphsTuple (nodes (B n + 1, 1))."""
        batch, n = adjacency.shape[0], self.n
        s, r = _all_pairs(n)
        pad = batch * n
        present = adjacency[:, s, r] > 0.5  # (B, n (n - 1))
        offset = (jnp.arange(batch, dtype=jnp.int32) * n)[:, None]
        senders = jnp.where(present, s[None] + offset, pad).reshape(-1)
        receivers = jnp.where(present, r[None] + offset, pad).reshape(-1)
        return jraph.GraphsTuple(nodes=jnp.ones((pad + 1, 1), jnp.float32), edges=None, senders=senders,
                                 receivers=receivers, n_node=jnp.array([n] * batch + [1], jnp.int32),
                                 n_edge=jnp.array([0] * batch + [senders.shape[0]], jnp.int32), globals=None)

    def apply(self, params, x):
        if x.shape[1:] != (self.n, self.n):
            raise ValueError(f"GCN expects adjacency batches (B, {self.n}, {self.n}); got {tuple(x.shape)}")
        graph = self.graphs(x)
        h = graph.nodes
        for k, act in ((0, jax.nn.relu), (1, lambda v: v)):
            layer = params[f"layer_{k}"]
            conv = jraph.GraphConvolution(lambda v, w=layer["kernel"]: v @ w, add_self_edges=True)
            h = act(conv(graph._replace(nodes=h)).nodes + layer["bias"])
        return h[:-1, 0].reshape(x.shape[0], self.n)

    def symmetry_error(self, params, key, x):
        return _degree_symmetry_error(self, params, key, x)


# -- experiments --------------------------------------------------------------------------------------

EXPERIMENTS = ("set_sum", "translation_1d", "translation_2d", "mnist", "degree")

VARIANTS = {
    "set_sum": ("generic", "soft", "hard", "deepsets"),
    "translation_1d": ("generic_sigmoid", "generic_tanh", "generic_elu", "generic_elu_l1", "soft", "hard", "cnn"),
    "translation_2d": ("generic", "soft", "hard", "cnn"),
    "mnist": ("generic", "soft", "hard", "cnn"),
    "degree": ("generic", "soft", "hard", "gcn"),
}
"""Model variants of each experiment; the reference's generic model first, the baseline last."""

IMAGE_EXPERIMENTS = ("translation_1d", "translation_2d", "mnist")


def model_choices(experiment: str, *, regression_loss: str = "l1", init_std: float | None = None) -> dict:
    """The model choices of ``experiment`` where reference 001 is silent, as a run with these settings makes them.

    {topic: text}, printed by the reports (``symjax.report.discovery.choices_markdown``).
    ``regression_loss``: the set_sum / degree training loss ('l1' or 'mse');
    ``init_std``: the translation models' initial weight std (None: LeCun).
    """
    _check_choice("experiment", experiment, EXPERIMENTS)
    training_loss(experiment, regression_loss)  # checks the value
    images = experiment in IMAGE_EXPERIMENTS
    init = ("N(0, 1 / fan_in) (LeCun)" if init_std is None or not images else
            f"N(0, {float(init_std):g}^2) in the generic, soft and hard models (init_std; LeCun would be "
            "1 / sqrt(pixels))")
    out = {"generic weights": f"no bias (the reference's weight is the only parameter); entries {init}"}
    if LOSSES[experiment] == "mse":
        out["loss"] = ("mean absolute error, the reference's" if regression_loss == "l1" else
                       "mean squared error (--regression_loss=mse; the reference trains with the mean absolute error)")
    baselines = {
        "set_sum": ("DeepSets", "phi: 1 -> 32 -> 32, sum over the set, rho: 32 -> 32 -> 1, ReLU"),
        "degree": ("GCN", "node input 1; symmetric normalisation with self-loops (jraph.GraphConvolution); bias after "
                          "aggregation"),
        "mnist": ("CNN", "10 kernels 28 x 28, stride 2, no padding (15 x 15 positions), bias, ELU, mean over "
                         "positions, LeCun initialisation"),
    }
    circular_cnn = ("CNN", "circular padding, one output channel per class, bias, ELU, mean over positions, LeCun "
                           "initialisation")
    name, text = baselines.get(experiment, circular_cnn)
    out[name] = text
    if images:
        out["soft and hard translation models"] = "ELU, the reference's best activation"
        if experiment != "mnist":  # MNIST's pairs are the reference's (§3.2)
            out["offsets (b, b')"] = "(1, 1): one translation step (stride 1)"
        out["class bias"] = ("off (the reference's weight is its only parameter); build_model(class_bias=True) adds "
                             "a per-class bias inside the activation")
    if experiment == "translation_1d":
        out["L1 weight of generic_elu_l1"] = "hyper 'l1', a lane value like 'lam' (the reference does not give it)"
    return out


LOSSES = {"set_sum": "mse", "translation_1d": "cross_entropy", "translation_2d": "cross_entropy",
          "mnist": "cross_entropy", "degree": "mse"}
"""The lane engine's loss family per experiment: 'mse' marks a regression experiment, whose loss the
discovery task's --regression_loss chooses (default 'l1', the reference's mean L1; see ``training_loss``)."""


def training_loss(experiment: str, regression_loss: str = "l1") -> str:
    """The engine loss of ``experiment``: ``regression_loss`` ('mse' or 'l1') for the regression
    experiments (set_sum, degree), cross-entropy for the classification ones."""
    if regression_loss not in ("mse", "l1"):
        raise ValueError(f"regression_loss: expected 'mse' or 'l1', got {regression_loss!r}")
    return regression_loss if LOSSES[experiment] == "mse" else LOSSES[experiment]


def build_model(experiment: str, variant: str, *, offsets: tuple | None = None, canvas: int = 56,
                class_bias: bool = False, init_std: float | None = None):
    """The model ``variant`` of ``experiment`` (see VARIANTS).

    Translation models: stride 1 for the synthetic images, stride 2 on the
    MNIST canvas (28 x 28 translations of a 56 x 56 canvas, reference §3.2);
    the soft and hard variants use ELU (the reference's best activation).
    ``offsets`` (b, b') of the generic offset-sharing penalty default to (1, 1)
    (one translation step; stride 1) for the synthetic images and to the
    reference's (16, 4) for MNIST. ``canvas``: MNIST canvas side (tests use a
    smaller one). ``class_bias``: a per-class bias inside the activation of the
    translation models (not in the reference). ``init_std``: std of the initial
    weight entries of the generic, soft and hard translation models (None:
    LeCun, 1 / sqrt(pixels)); the baselines keep LeCun.

    Raises:
      ValueError: unknown experiment or variant, offsets outside the image.
    """
    _check_choice("experiment", experiment, EXPERIMENTS)
    _check_choice(f"{experiment} variant", variant, VARIANTS[experiment])
    if experiment == "set_sum":
        return DeepSets() if variant == "deepsets" else SetSumLinear(sharing=variant)
    if experiment == "degree":
        return GCN() if variant == "gcn" else DegreeMLP(sharing=variant)
    classes, shape, stride, kernel = {
        "translation_1d": (5, (10,), 1, (4,)),
        "translation_2d": (3, (10, 10), 1, (5, 5)),
        "mnist": (10, (canvas, canvas), 2, (28, 28)),
    }[experiment]
    if variant == "cnn":
        return CNN(classes, shape, kernel, stride=stride, padding="valid" if experiment == "mnist" else "circular")
    if offsets is None:
        offsets = (16, 4) if experiment == "mnist" else (1, 1)
    if variant.startswith("generic"):
        _, *activation = variant.split("_", 1)
        activation = activation[0] if activation else "elu"
        l1 = activation.endswith("_l1")
        return TranslationModel(classes, shape, stride, activation.removesuffix("_l1"), "generic", tuple(offsets), l1,
                                class_bias, init_std)
    return TranslationModel(classes, shape, stride, "elu", variant, tuple(offsets), bias=class_bias, init_std=init_std)


def check_hyper_values(model, hyper: dict) -> dict:
    """``hyper`` as float32-ready floats after checking it holds exactly ``model.hyper_keys``, each finite and >= 0.

    Raises:
      ValueError: a missing or extra key, or a negative / non-finite weight (one line, before any compilation).
    """
    if sorted(hyper) != sorted(model.hyper_keys):
        raise ValueError(f"{type(model).__name__} expects penalty weights {model.hyper_keys}; got {sorted(hyper)}")
    out = {}
    for name, value in hyper.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
                or not np.isfinite(value) or value < 0:
            raise ValueError(f"penalty weight {name} must be a finite number >= 0; got {value!r}")
        out[name] = float(value)
    return out


def lane_fns(model):
    """The model as the lane engine's ``LaneFns`` (init, apply, symmetry_error, penalty)."""
    return LaneFns(init=model.init, apply=model.apply, symmetry_error=model.symmetry_error, penalty=model.penalty)
