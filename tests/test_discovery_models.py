"""Tests for the discovery experiments' models (symjax.models.discovery_models).

Expected values: Python loops over classes, translations and pixels, dense
normalised-adjacency formulas, group averages over every element of a small
group, and hand calculations.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import symjax.discovery as discovery
from symjax.data import discovery as dd
from symjax.models import discovery_models as dm

KEY = jax.random.key(0)


def _loop_translation_logits(w, x, act, image_shape, stride):
    """logit[b, k] = mean_t act(sum_p w[k, t, p] x[b, p]) with Python loops over t and p."""
    counts = tuple(d // stride for d in image_shape)
    out = np.zeros((x.shape[0], w.shape[0]))
    for b, k in itertools.product(range(x.shape[0]), range(w.shape[0])):
        scores = [sum(w[(k,) + t + p] * x[(b,) + p] for p in itertools.product(*map(range, image_shape)))
                  for t in itertools.product(*map(range, counts))]
        out[b, k] = np.mean(act(np.array(scores)))
    return out


@pytest.mark.parametrize("image_shape, stride, activation", [((6,), 1, "sigmoid"), ((4, 4), 2, "elu")])
def test_translation_model_is_the_per_class_per_translation_dot_product(image_shape, stride, activation):
    model = dm.TranslationModel(3, image_shape, stride=stride, activation=activation)
    params = model.init(KEY)
    assert params["w"].shape == (3,) + tuple(d // stride for d in image_shape) + image_shape
    x = np.random.default_rng(0).random((2,) + image_shape).astype(np.float32)
    act = {"sigmoid": lambda v: 1 / (1 + np.exp(-v)), "elu": lambda v: np.where(v > 0, v, np.exp(v) - 1)}[activation]
    expected = _loop_translation_logits(np.asarray(params["w"], np.float64), x, act, image_shape, stride)
    np.testing.assert_allclose(jax.jit(model.apply)(params, jnp.asarray(x)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("image_shape, stride", [((6,), 1), ((4, 6), 2)])
def test_hard_translation_weight_is_a_cyclic_convolution(image_shape, stride):
    """W[k, t, p] = W[k, 0, p - stride t] (mod the image) for every class, translation and pixel."""
    model = dm.TranslationModel(2, image_shape, stride=stride, sharing="hard")
    w = np.asarray(model.weight(model.init(KEY)))
    counts = tuple(d // stride for d in image_shape)
    for k, t, p in itertools.product(range(2), itertools.product(*map(range, counts)),
                                     itertools.product(*map(range, image_shape))):
        back = tuple((pi - stride * ti) % d for pi, ti, d in zip(p, t, image_shape))
        assert w[(k,) + t + p] == w[(k,) + (0,) * len(t) + back]
    assert model.init(KEY)["w"].size == 2 * int(np.prod(image_shape))  # one template per class


def test_matrix_and_weight_hold_the_same_numbers_translation_major():
    model = dm.TranslationModel(3, (5,))
    params = model.init(KEY)
    w, m = np.asarray(model.weight(params)), np.asarray(model.matrix(params))
    for k, t, p in itertools.product(range(3), range(5), range(5)):
        assert m[t * 3 + k, p] == w[k, t, p]


def test_cnn_circular_is_a_wrapped_cross_correlation():
    model = dm.CNN(2, (5, 6), (2, 3), activation="identity")
    params = model.init(KEY)
    params = {**params, "bias": jnp.array([0.5, -1.0])}
    x = np.random.default_rng(1).random((1, 5, 6)).astype(np.float32)
    k = np.asarray(params["kernel"])
    expected = np.zeros(2)
    for c in range(2):
        total = 0.0
        for i, j in itertools.product(range(5), range(6)):
            total += sum(k[c, 0, a, b] * x[0, (i + a) % 5, (j + b) % 6] for a in range(2) for b in range(3))
        expected[c] = total / 30 + [0.5, -1.0][c]
    np.testing.assert_allclose(model.apply(params, jnp.asarray(x))[0], expected, rtol=1e-5)


def test_cnn_valid_stride_counts_positions():
    model = dm.CNN(10, (12, 12), (6, 6), stride=2, padding="valid", activation="identity")
    params = {**model.init(KEY), "bias": jnp.zeros(10)}
    x = jnp.ones((1, 12, 12))
    # every one of the 4 x 4 positions sees a full window of ones: logit = sum of the kernel
    np.testing.assert_allclose(model.apply(params, x)[0], np.asarray(params["kernel"]).sum(axis=(1, 2, 3)),
                               rtol=1e-5)


CNN_SHAPES = [  # (classes, image, kernel, stride): 1-D, 2-D and 3-D, kernel = image, strides that do not divide
    # (the MNIST experiment's shape, a 40 x 40 canvas and a 28 x 28 kernel, stride 2: values in the vmapped test below)
    (3, (11,), (4,), 3), (2, (7,), (7,), 2),
    (2, (7, 9), (3, 4), 2), (2, (9, 8), (4, 3), 3), (2, (6, 6), (6, 6), 1), (2, (5, 6, 7), (2, 3, 4), 2),
]


@pytest.mark.parametrize("padding", ["valid", "circular"])
@pytest.mark.parametrize("classes, image_shape, kernel, stride", CNN_SHAPES)
def test_cnn_gather_matmul_equals_conv_general_dilated(classes, image_shape, kernel, stride, padding):
    """apply (row gather @ banded kernel) = apply_conv (lax.conv_general_dilated): values and gradients."""
    model = dm.CNN(classes, image_shape, kernel, stride=stride, padding=padding)
    k1, k2, k3 = jax.random.split(KEY, 3)
    params = {**model.init(k1), "bias": jax.random.normal(k2, (classes,))}
    x = jax.random.normal(k3, (3,) + image_shape)
    np.testing.assert_allclose(jax.jit(model.apply)(params, x), jax.jit(model.apply_conv)(params, x),
                               rtol=1e-5, atol=1e-6)
    w = jax.random.normal(jax.random.key(7), (3, classes))

    def grad(apply):  # kernel, bias and input gradients of a nonlinear function of the logits
        return jax.jit(jax.grad(lambda p, v: jnp.sum(w * apply(p, v) ** 2), argnums=(0, 1)))(params, x)

    fast, ref = grad(model.apply), grad(model.apply_conv)
    assert jax.tree.structure(fast) == jax.tree.structure(ref)
    for a, b in zip(jax.tree.leaves(fast), jax.tree.leaves(ref)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    counts = [-(-d // stride) if padding == "circular" else (d - k) // stride + 1 for d, k in zip(image_shape, kernel)]
    assert model.positions == tuple(counts)
    assert jax.eval_shape(model.apply_conv, params, x).shape == (3, classes)


def test_cnn_gather_matmul_equals_conv_under_vmap_over_lanes():
    """The engine's setting: params and batches with a leading lane axis."""
    model = dm.build_model("mnist", "cnn", canvas=40)
    params = jax.vmap(model.init)(jax.random.split(KEY, 3))
    params = {**params, "bias": jax.random.normal(jax.random.key(1), (3, 10))}
    x = jax.random.uniform(jax.random.key(2), (3, 5, 40, 40))
    np.testing.assert_allclose(jax.jit(jax.vmap(model.apply))(params, x),
                               jax.jit(jax.vmap(model.apply_conv))(params, x), rtol=1e-5, atol=1e-6)


def test_cnn_correlation_index_maps_rows_and_kernel_offsets():
    rows, band = dm.correlation_index((5, 6), (2, 3), 2, "circular")  # positions 3 x 3, wrapped
    assert rows.dtype == band.dtype == np.int32 and not rows.flags.writeable and not band.flags.writeable
    np.testing.assert_array_equal(rows, [[0, 1], [2, 3], [4, 0]])
    assert band.shape == (2 * 6, 3)
    # kernel row j, column x, position q: the weight (j, (x - 2 q) mod 6) where that is < 3, else 6 (zero)
    for j, col, q in itertools.product(range(2), range(6), range(3)):
        off = (col - 2 * q) % 6
        assert band[j * 6 + col, q] == (j * 3 + off if off < 3 else 6)
    rows, band = dm.correlation_index((5, 6), (2, 3), 2, "valid")  # positions 2 x 2
    np.testing.assert_array_equal(rows, [[0, 1], [2, 3]])
    np.testing.assert_array_equal(band[:6, 1], [6, 6, 0, 1, 2, 6])  # q = 1 covers columns 2-4, no wrap


def test_mnist_cnn_is_one_gather_and_one_matmul_in_training_and_symmetry_error():
    model = dm.build_model("mnist", "cnn")
    assert model.positions == (15, 15)
    params = jax.eval_shape(model.init, KEY)
    x = jax.ShapeDtypeStruct((4, 56, 56), jnp.float32)
    for fn in (jax.grad(lambda p, v: jnp.sum(model.apply(p, v))), lambda p, v: model.symmetry_error(p, KEY, v)):
        names = [e.primitive.name for e in jax.make_jaxpr(fn)(params, x).jaxpr.eqns]
        assert "conv_general_dilated" not in names and "dot_general" in names
    dots = [e for e in jax.make_jaxpr(model.apply)(params, x).jaxpr.eqns if e.primitive.name == "dot_general"]
    assert len(dots) == 1 and [tuple(v.aval.shape) for v in dots[0].invars] == [(4, 15, 28 * 56), (28 * 56, 150)]


def test_cnn_symmetry_error_goes_through_apply():
    calls = []

    class Spy(dm.CNN):
        def apply(self, params, x):
            calls.append(x.shape)
            return super().apply(params, x)

    model, spy = dm.CNN(3, (6, 6), (3, 3), stride=2), Spy(3, (6, 6), (3, 3), stride=2)
    params = model.init(KEY)
    x = jax.random.normal(jax.random.key(3), (4, 6, 6))
    np.testing.assert_allclose(spy.symmetry_error(params, KEY, x), model.symmetry_error(params, KEY, x))
    assert calls


def test_mnist_sized_generic_model_is_one_matmul():
    model = dm.TranslationModel(10, (56, 56), stride=2, activation="elu")
    assert model.weight_shape == (10, 28, 28, 56, 56)
    x = jax.ShapeDtypeStruct((4, 56, 56), jnp.float32)
    params = jax.eval_shape(model.init, KEY)
    jaxpr = jax.make_jaxpr(model.apply)(params, x)
    dots = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == "dot_general"]
    assert len(dots) == 1
    assert {tuple(v.aval.shape) for v in dots[0].invars} == {(4, 3136), (3136, 7840)}


def test_degree_mlp_with_identity_weight_counts_degrees_and_accuracy_rounds():
    s = dd.degree(0, n_graphs=20, n_val_graphs=2, n_test_graphs=2)
    model = dm.DegreeMLP()
    pred = model.apply({"w": jnp.eye(10)}, jnp.asarray(s.x))
    np.testing.assert_array_equal(pred, s.y)
    assert float(dm.degree_accuracy(np.array([[0.4, 2.6, 12.0, -3.0]]), np.array([[0, 3, 3, 0]]))) == 0.75
    assert float(dm.degree_accuracy(jnp.array([[0.51, 1.49]]), jnp.array([[1.0, 1.0]]))) == 1.0


def test_gcn_matches_the_dense_normalised_adjacency_formula():
    s = dd.degree(1, n_graphs=8, n_val_graphs=1, n_test_graphs=1)
    model = dm.GCN()
    params = model.init(KEY)
    params["layer_0"]["bias"] = jnp.linspace(-0.5, 0.5, 10)
    params["layer_1"]["bias"] = jnp.array([0.25])
    got = np.asarray(jax.jit(model.apply)(params, jnp.asarray(s.x[:5])))
    p = jax.tree.map(np.asarray, params)
    for a, out in zip(s.x[:5], got):
        a_hat = a + np.eye(10)
        d = a_hat.sum(axis=1)
        norm = a_hat / np.sqrt(np.outer(d, d))
        h = np.maximum(norm @ (np.ones((10, 1)) @ p["layer_0"]["kernel"]) + p["layer_0"]["bias"], 0)
        np.testing.assert_allclose(out, (norm @ (h @ p["layer_1"]["kernel"]) + p["layer_1"]["bias"])[:, 0],
                                   rtol=1e-5, atol=1e-6)


def test_hard_set_and_degree_weights_are_identity_plus_constant():
    for model in (dm.SetSumLinear(sharing="hard"), dm.DegreeMLP(sharing="hard")):
        w = np.asarray(model.matrix(model.init(KEY)))
        off = w[~np.eye(10, dtype=bool)]
        assert np.all(np.diag(w) == w[0, 0]) and np.all(off == off[0]) and w[0, 0] != off[0]


@pytest.mark.parametrize("model, x", [
    (dm.SetSumLinear(sharing="hard"), dd.set_sum(0, 8, 1, 1).x),
    (dm.DeepSets(), dd.set_sum(0, 8, 1, 1).x),
    (dm.TranslationModel(5, (10,), sharing="hard"), dd.translation_1d(0, 8, 1, 1).x),
    (dm.TranslationModel(3, (10, 10), sharing="hard"), dd.translation_2d(0, 8, 1, 1).x),
    (dm.CNN(5, (10,), (4,)), dd.translation_1d(0, 8, 1, 1).x),
    (dm.CNN(3, (10, 10), (5, 5)), dd.translation_2d(0, 8, 1, 1).x),
    (dm.DegreeMLP(sharing="hard"), dd.degree(0, n_graphs=6, n_val_graphs=1, n_test_graphs=1).x[:8]),
    (dm.GCN(), dd.degree(0, n_graphs=6, n_val_graphs=1, n_test_graphs=1).x[:8]),
])
def test_symmetric_models_have_zero_symmetry_error(model, x):
    params = model.init(KEY)
    scale = float(jnp.mean(jnp.square(jax.jit(model.apply)(params, jnp.asarray(x)))))
    assert float(jax.jit(model.symmetry_error)(params, KEY, jnp.asarray(x))) < 1e-10 * max(scale, 1.0)


@pytest.mark.parametrize("model, x", [
    (dm.SetSumLinear(), dd.set_sum(0, 8, 1, 1).x),
    (dm.TranslationModel(5, (10,)), dd.translation_1d(0, 8, 1, 1).x),
    (dm.DegreeMLP(), dd.degree(0, n_graphs=6, n_val_graphs=1, n_test_graphs=1).x[:8]),
])
def test_generic_models_are_not_symmetric_at_init(model, x):
    assert float(jax.jit(model.symmetry_error)(model.init(KEY), KEY, jnp.asarray(x))) > 1e-4


def test_generic_penalties_match_hand_sums():
    hyper = {"lam": jnp.float32(0.01), "l1": jnp.float32(0.5)}
    model = dm.SetSumLinear()
    params = model.init(KEY)
    w = np.asarray(params["w"], np.float64)
    np.testing.assert_allclose(model.penalty(params, hyper), 0.01 * np.sum(1 / (1 + np.exp(-100 * w))), rtol=1e-5)

    model = dm.TranslationModel(2, (6,), offsets=(1, 2), l1=True)
    params = model.init(KEY)
    w = np.asarray(params["w"], np.float64)
    tie = sum(abs(w[k, i, m] - w[k, (i + 1) % 6, (m + 2) % 6]) for k in range(2) for i in range(6) for m in range(6))
    np.testing.assert_allclose(model.penalty(params, hyper), 0.01 * tie + 0.5 * np.abs(w).sum(), rtol=1e-5)
    assert model.hyper_keys == ("lam", "l1")
    assert dm.TranslationModel(2, (6,)).hyper_keys == ("lam",)
    assert dm.TranslationModel(2, (6,), sharing="hard").penalty is None
    assert dm.DegreeMLP().penalty is None and dm.DeepSets().penalty is None


def test_missing_hyper_key_is_named():
    model = dm.TranslationModel(2, (6,), l1=True)
    with pytest.raises(KeyError, match=r"missing \['l1'\]"):
        model.penalty(model.init(KEY), {"lam": 1.0})


@pytest.mark.parametrize("model", [dm.TranslationModel(2, (5,), sharing="soft"), dm.DegreeMLP(n=4, sharing="soft"),
                                   dm.SetSumLinear(n=4, sharing="soft")])
def test_soft_penalty_is_the_distance_to_the_group_average(model):
    """lam * ||W - mean_g rho_out(g) W rho_in(g)^T||^2 with the mean over every element of the group."""
    params = model.init(KEY)
    w = np.asarray(model.matrix(params), np.float64)
    group = model.action_in.group
    elements = group.elements()
    avg = np.zeros_like(w)
    for g in elements:
        po, pi = model.action_out.permutation(np.asarray(g)), model.action_in.permutation(np.asarray(g))
        moved = np.empty_like(w)
        moved[np.ix_(po, pi)] = w  # (rho(g) W rho(g)^T)[g i, g j] = W[i, j]
        avg += moved / len(elements)
    np.testing.assert_allclose(model.penalty(params, {"lam": 2.0}), 2.0 * np.sum((w - avg) ** 2), rtol=1e-4)


@pytest.mark.parametrize("make, message", [
    (lambda: dm.TranslationModel(5, (10,), offsets=(10, 1)), r"offsets \(b, b'\) must satisfy"),
    (lambda: dm.TranslationModel(10, (56, 56), stride=2, offsets=(16, 56)), r"0 <= b' < 56"),
    (lambda: dm.TranslationModel(5, (10,), activation="softplus"), "activation must be one of"),
    (lambda: dm.TranslationModel(5, (10,), stride=3), "multiples of the stride"),
    (lambda: dm.SetSumLinear(sharing="tied"), "sharing must be one of"),
    (lambda: dm.CNN(3, (10, 10), (11, 5)), "each at most the image size"),
    (lambda: dm.TranslationModel(3, (10, 10), init_std=0.0), "init_std must be a finite number > 0"),
    (lambda: dm.TranslationModel(3, (10, 10), init_std=True), "init_std must be a finite number > 0"),
])
def test_bad_model_options_are_one_line_errors(make, message):
    with pytest.raises(ValueError, match=message) as err:
        make()
    assert "\n" not in str(err.value)


# -- end to end through the lane engine ---------------------------------------------------------------

from symjax.data import mnist as mnist_data  # noqa: E402
from symjax.train import Lane, TrainConfig, sweep  # noqa: E402


def _train(experiment, variant, splits, lams, epochs=3, batch=32, lr=1e-2, **options):
    """One sweep: a lane per lam (same seed), tiny sizes; returns (model, SweepResult)."""
    model = dm.build_model(experiment, variant, **options)
    lanes = [Lane(seed=0, train_idx=splits.train_idx, val_idx=splits.val_idx, test_idx=splits.test_idx,
                  batch_size=batch, learning_rate=lr,
                  hyper={k: lam for k in model.hyper_keys}, meta={"model": variant, "lam": lam}) for lam in lams]
    config = TrainConfig(loss=dm.training_loss(experiment), max_epochs=epochs, early_stopping=False, quiet=True,
                         sym_samples=2)
    return model, sweep(dm.lane_fns(model), splits.x, splits.y, lanes, config)


def _lane(params, i):
    return jax.tree.map(lambda leaf: leaf[i], params)


def _check_rows(result, n_lanes):
    assert len(result.rows) == n_lanes
    for row in result.rows:
        assert np.isfinite(row["test_loss"]) and row["epochs"] >= 1 and np.isfinite(row["sym_error"])


def test_set_sum_trains_end_to_end_and_lam_pulls_the_soft_weights_to_shared():
    splits = dd.set_sum(0, 256, 64, 64)
    model, result = _train("set_sum", "soft", splits, [0.0, 10.0], epochs=3, lr=0.1)
    _check_rows(result, 2)
    distance = [float(discovery.sharing_distance(model.matrix(_lane(result.params, i)), model.action_out,
                                                 model.action_in, layout="out_in")) for i in range(2)]
    assert distance[1] < 0.5 * distance[0]
    assert result.params["w"].shape == (2, 10, 10)


def test_translation_1d_trains_end_to_end_generic_with_l1():
    splits = dd.translation_1d(0, 300, 100, 100)
    model, result = _train("translation_1d", "generic_elu_l1", splits, [1e-4, 1e-2])
    _check_rows(result, 2)
    assert result.params["w"].shape == (2, 5, 10, 10)
    assert all(0.0 <= row["test_acc"] <= 1.0 for row in result.rows)


def test_translation_2d_trains_end_to_end_soft():
    splits = dd.translation_2d(0, 120, 30, 30)
    model, result = _train("translation_2d", "soft", splits, [1e-3, 1.0])
    _check_rows(result, 2)
    assert result.params["w"].shape == (2, 3, 10, 10, 10, 10)


@pytest.mark.skipif(not (mnist_data.SHARED_MNIST_DIR / mnist_data.TEST_FILES[0]).is_file(),
                    reason="MNIST test files not present")
def test_mnist_trains_end_to_end_on_a_small_canvas():
    digits = mnist_data.load_mnist()
    splits = dd.mnist_canvas(0, digits.images, digits.labels, 64, 16, 16, canvas=32)
    model, result = _train("mnist", "generic", splits, [1e-4, 1e-2], epochs=2, batch=16, offsets=(4, 2), canvas=32)
    _check_rows(result, 2)
    assert result.params["w"].shape == (2, 10, 16, 16, 32, 32)


def test_degree_trains_end_to_end_soft_on_the_by_graph_split():
    splits = dd.degree(0, split="by_graph", n_graphs=120, n_val_graphs=20, n_test_graphs=20)
    model, result = _train("degree", "soft", splits, [0.0, 10.0], epochs=3, lr=0.05)
    _check_rows(result, 2)
    errors = [row["sym_error"] for row in result.rows]
    assert errors[1] < 0.5 * errors[0]  # a large lam pulls W towards a I + b 11^T: closer to equivariant


def test_build_model_rejects_unknown_names_and_knows_every_variant():
    for experiment, variants in dm.VARIANTS.items():
        for variant in variants:
            dm.build_model(experiment, variant)
    with pytest.raises(ValueError, match="experiment must be one of"):
        dm.build_model("rotation", "generic")
    with pytest.raises(ValueError, match="mnist variant must be one of"):
        dm.build_model("mnist", "generic_relu")


def test_penalty_weights_are_checked_before_training():
    model = dm.TranslationModel(5, (10,), l1=True)
    assert dm.check_hyper_values(model, {"lam": 1e-4, "l1": 0}) == {"lam": 1e-4, "l1": 0.0}
    with pytest.raises(ValueError, match="penalty weight lam must be a finite number >= 0; got -0.1"):
        dm.check_hyper_values(model, {"lam": -0.1, "l1": 0.0})
    with pytest.raises(ValueError, match=r"expects penalty weights \('lam', 'l1'\)"):
        dm.check_hyper_values(model, {"lam": 0.1})
    with pytest.raises(ValueError, match="got nan"):
        dm.check_hyper_values(dm.DegreeMLP(sharing="soft"), {"lam": float("nan")})


def test_class_bias_shifts_every_translation_score_of_its_class():
    model = dm.build_model("translation_1d", "hard", class_bias=True)
    params = model.init(KEY)
    params["class_bias"] = jnp.arange(5.0)
    x = np.random.default_rng(2).random((2, 10)).astype(np.float32)
    w = np.asarray(model.weight(params), np.float64)
    elu = lambda v: np.where(v > 0, v, np.exp(v) - 1)
    expected = np.array([[np.mean(elu(w[k] @ xb + k)) for k in range(5)] for xb in x])
    np.testing.assert_allclose(model.apply(params, jnp.asarray(x)), expected, rtol=1e-5, atol=1e-6)
    assert "class_bias" not in dm.build_model("translation_1d", "hard").init(KEY)


@pytest.mark.parametrize("sharing", ["generic", "soft", "hard"])
def test_init_std_sets_the_spread_of_every_weight_entry(sharing):
    """Entries of W (hard: its orbit coefficients, 3 classes x 100 pixels) are N(0, init_std^2); None is LeCun."""
    def spread(init_std, seed):
        model = dm.build_model("translation_2d", sharing, init_std=init_std)
        w = np.asarray(model.weight(model.init(jax.random.key(seed))))
        values = w[:, 0, 0].ravel() if sharing == "hard" else w.ravel()  # translation (0, 0) holds every coefficient
        return np.std(values), values.size
    for init_std, expected in ((None, 0.1), (1.0, 1.0), (3.0, 3.0)):
        std, n = spread(init_std, 1)
        assert abs(std / expected - 1) < 5 / np.sqrt(2 * n)  # the sample std's relative error is ~1/sqrt(2n)
