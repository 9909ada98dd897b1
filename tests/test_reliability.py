"""Bad input a new user may give: each case ends in a one-line error (or a documented promotion).

Most tests here fail on the code before these fixes (silent broadcasting,
wrapped indices, NaN from out-of-range gathers, tracebacks instead of
messages); the others pin, by hand-computed values, what the fixes keep.
"""

import asyncio
import gc
import json
import logging
import os
import shutil
import sys
import threading
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import jraph
import numpy as np
import pytest

from symjax import actions, functional, groups, sharing
from symjax.data import tu
from symjax.layers import GraphLayer, SetLayer, SwapBlockLayer, check_graphs
from symjax.metrics import symmetry_error
from symjax.train import Lane, LaneFns, TrainConfig, sweep
from symjax.train.checkpoint import (FILES_DIGEST_FILE, _FAILED_RESTORE_READS, CheckpointStore, _drop_late_read_logs,
                                     _quiet_closed_loop_reports)
from symjax.train.losses import per_example_loss
from symjax.train.validate import validate_pool, validate_predictions
from test_engine import _truncate_data_files


# ---------------------------------------------------------------- 1. losses and labels


def _column_model():
    """A linear model returning predictions of shape (B, 1)."""
    init_fn = lambda key: {"w": jax.random.normal(key, (3, 1))}
    apply_fn = lambda params, x: x @ params["w"]
    return init_fn, apply_fn


def _one_lane(n=12):
    return [Lane(seed=0, train_idx=np.arange(8), val_idx=np.arange(8, 10), test_idx=np.arange(10, n),
                 batch_size=4, augment=False, meta={})]


def test_sweep_refuses_column_predictions_against_flat_targets():
    init_fn, apply_fn = _column_model()
    x = np.ones((12, 3), np.float32)
    y = np.zeros((12,), np.float32)
    config = TrainConfig(loss="mse", max_epochs=1, quiet=True)
    with pytest.raises(ValueError, match=r"predictions \(1, 1\) and targets \(1,\)"):  # one example, before compiling
        sweep(LaneFns(init_fn, apply_fn), x, y, _one_lane(), config)


def test_l1_of_matching_shapes_is_the_hand_computed_mean_and_refuses_broadcasting():
    pred = jnp.array([[1.0, 3.0], [0.0, 0.0]])
    y = jnp.array([[0.0, 1.0], [2.0, 0.0]])
    np.testing.assert_allclose(per_example_loss("l1", pred, y), [(1 + 2) / 2, 2 / 2])
    with pytest.raises(ValueError, match=r"loss 'l1'.*predictions \(4, 1\) and targets \(4,\)"):
        per_example_loss("l1", jnp.zeros((4, 1)), jnp.zeros(4))


def test_mse_of_matching_shapes_is_the_hand_computed_mean():
    pred = jnp.array([[1.0, 3.0], [0.0, 0.0]])
    y = jnp.array([[0.0, 1.0], [2.0, 0.0]])
    np.testing.assert_allclose(per_example_loss("mse", pred, y), [(1 + 4) / 2, 4 / 2])


def test_cross_entropy_refuses_labels_with_an_extra_axis():
    with pytest.raises(ValueError, match=r"logits \(4, 2\) and labels \(4, 1\)"):
        per_example_loss("cross_entropy", jnp.zeros((4, 2)), jnp.zeros((4, 1), jnp.int32))


def test_validate_pool_refuses_negative_labels():
    x = np.zeros((5, 3), np.float32)
    y = np.array([0, 1, -1, 1, 0])
    with pytest.raises(ValueError, match=r"labels in \[0, inf\).*range \[-1, 1\].*-1 at pool_y\[2\]"):
        validate_pool(x, y, "cross_entropy")


def test_sweep_refuses_a_negative_label_before_compiling():
    init_fn = lambda key: {"w": jax.random.normal(key, (3, 2))}
    apply_fn = lambda params, x: x @ params["w"]
    y = np.zeros(12, np.int32)
    y[4] = -1  # would index the last class
    config = TrainConfig(loss="cross_entropy", max_epochs=1, quiet=True)
    with pytest.raises(ValueError, match=r"-1 at pool_y\[4\]"):
        sweep(LaneFns(init_fn, apply_fn), np.ones((12, 3), np.float32), y, _one_lane(), config)


def test_sweep_refuses_a_label_past_the_class_count_before_compiling():
    init_fn = lambda key: {"w": jax.random.normal(key, (3, 2))}
    apply_fn = lambda params, x: x @ params["w"]
    y = np.zeros(12, np.int32)
    y[7] = 5  # two classes: would give NaN losses
    config = TrainConfig(loss="cross_entropy", max_epochs=1, quiet=True)
    with pytest.raises(ValueError, match=r"labels in \[0, 2\).*5 at pool_y\[7\]"):
        sweep(LaneFns(init_fn, apply_fn), np.ones((12, 3), np.float32), y, _one_lane(), config)


def test_validate_pool_refuses_labels_past_num_classes():
    x = np.zeros((5, 3), np.float32)
    with pytest.raises(ValueError, match=r"labels in \[0, 2\).*range \[0, 5\]"):
        validate_pool(x, np.array([0, 1, 5, 1, 0]), "cross_entropy", num_classes=2)
    assert validate_pool(x, np.array([0, 1, 1, 1, 0]), "cross_entropy", num_classes=2) == 5


def test_validate_predictions_reads_the_class_count_from_the_model():
    init_fn = lambda key: {"w": jax.random.normal(key, (3, 2))}
    apply_fn = lambda params, x: x @ params["w"]
    x = np.zeros((5, 3), np.float32)
    with pytest.raises(ValueError, match=r"labels in \[0, 2\).*first bad: 5 at pool_y\[2\]"):
        validate_predictions(init_fn, apply_fn, x, np.array([0, 1, 5, 1, 0]), "cross_entropy")
    validate_predictions(init_fn, apply_fn, x, np.array([0, 1, 1, 1, 0]), "cross_entropy")
    pytree_apply = lambda params, x: x["a"] @ params["w"] + x["b"]  # a pytree pool of device arrays
    pool = {"a": jnp.zeros((5, 3)), "b": jnp.zeros((5, 2))}
    with pytest.raises(ValueError, match=r"labels in \[0, 2\)"):
        validate_predictions(init_fn, pytree_apply, pool, np.array([0, 2, 1, 1, 0]), "cross_entropy")


def test_validate_predictions_refuses_shapes_that_would_broadcast():
    init_fn, apply_fn = _column_model()
    x = np.zeros((5, 3), np.float32)
    with pytest.raises(ValueError, match=r"predictions \(1, 1\) and targets \(1,\)"):
        validate_predictions(init_fn, apply_fn, x, np.zeros(5, np.float32), "mse")
    validate_predictions(init_fn, apply_fn, x, np.zeros((5, 1), np.float32), "mse")


# ---------------------------------------------------------------- 2. layer inputs and params


def _shared_dense():
    s3 = groups.symmetric(3)
    return functional.SharedDense(actions.base(s3), actions.base(s3), parametrization="standard")


def test_shared_dense_promotes_integer_and_bool_inputs_to_float():
    spec = _shared_dense()
    params = {"w": jnp.array([0.25, -0.5]), "b": jnp.array([1.5])}  # W = 0.25 I - 0.5 (1 - I)
    x = np.array([[1, 0, 2]])
    expected = np.array([[0.25 * 1 - 0.5 * 2, -0.5 * 3, 0.25 * 2 - 0.5 * 1]]) + 1.5
    bool_expected = np.array([[0.25 - 0.5, -0.5 - 0.5, -0.5 + 0.25]]) + 1.5  # x > 0 is [1, 0, 1]
    for given, want in ((x.astype(np.int32), expected), (x > 0, bool_expected)):
        y = spec.apply(params, given)
        assert y.dtype == jnp.float32
        np.testing.assert_allclose(y, want, rtol=1e-6)


@pytest.mark.parametrize("name, shape", [("w", (3,)), ("w", (1,)), ("b", (2,))])
def test_shared_dense_refuses_wrongly_sized_params(name, shape):
    spec = _shared_dense()
    params = {"w": jnp.ones(2), "b": jnp.ones(1)}
    params[name] = jnp.ones(shape)
    with pytest.raises(ValueError, match=rf"expected params\['{name}'\] of shape \({2 if name == 'w' else 1},\), "
                                         rf"got \({shape[0]},\)"):
        jax.jit(spec.apply)(params, jnp.ones((1, 3)))


LAYERS = [(SetLayer(num_blocks=3, d_in=2, d_out=4), (5, 3, 2)),
          (SwapBlockLayer(d_in=2, d_out=4), (5, 3, 2)),
          (functional.Dense(d_in=2, d_out=4), (5, 2))]


@pytest.mark.parametrize("spec, x_shape", LAYERS, ids=lambda v: type(v).__name__)
def test_layers_refuse_a_bias_that_would_broadcast(spec, x_shape):
    params = functional.init(jax.random.key(0), spec)
    bias = "bias" if "bias" in params else "b_sym"
    params[bias] = jnp.ones(1)  # (1,) broadcasts against (d_out,) without the check
    with pytest.raises(ValueError, match=rf"params\['{bias}'\] of shape \(4,\), got \(1,\)"):
        spec.apply(params, jnp.ones(x_shape))


@pytest.mark.parametrize("spec, x_shape", LAYERS, ids=lambda v: type(v).__name__)
def test_layers_give_float_outputs_equal_to_float_inputs_for_integer_inputs(spec, x_shape):
    params = functional.init(jax.random.key(0), spec)
    x = np.random.default_rng(0).integers(-3, 4, x_shape)
    y = spec.apply(params, x.astype(np.int32))
    assert y.dtype == jnp.float32
    np.testing.assert_allclose(y, spec.apply(params, x.astype(np.float32)), rtol=1e-6)


def test_graph_layer_refuses_wrong_W_and_promotes_integer_features():
    layer = GraphLayer(d_in=2, d_out=3)
    params = functional.init(jax.random.key(0), layer)
    adjacency = np.array([[0, 1], [1, 0]], np.float32)
    features = np.array([[1, 0], [2, 1]])
    y_int = layer.apply(params, (adjacency, features.astype(np.int32)))
    np.testing.assert_allclose(y_int, layer.apply(params, (adjacency, features.astype(np.float32))), rtol=1e-6)
    params["W"] = jnp.ones((4, 2, 3))
    with pytest.raises(ValueError, match=r"params\['W'\] of shape \(5, 2, 3\), got \(4, 2, 3\)"):
        layer.apply(params, (adjacency, features))


# ---------------------------------------------------------------- 8. GraphsTuples


def _two_graphs(**changes):
    """A path 0-1 (graph 0) and a single node 2 with a self-loop (graph 1)."""
    fields = dict(nodes=np.ones((3, 2), np.float32), edges=None, senders=np.array([0, 1, 2]),
                  receivers=np.array([1, 0, 2]), n_node=np.array([2, 1]), n_edge=np.array([2, 1]), globals=None)
    fields.update(changes)
    return jraph.GraphsTuple(**fields)


@pytest.mark.parametrize("changes, message", [
    (dict(senders=np.array([0, 1, 3])), r"senders: expected node ids in \[0, 3\), got 3 at edge 2"),
    (dict(receivers=np.array([1, -1, 2])), r"receivers: expected node ids in \[0, 3\), got -1 at edge 1"),
    (dict(n_node=np.array([2, 2])), r"n_node: expected counts summing to 3 \(the rows of nodes\), got sum 4"),
    (dict(n_edge=np.array([1, 1])), r"sum\(n_edge\) 2"),
    (dict(senders=np.array([0, 2, 2])), r"edge 1 from node 2 \(graph 1\) to node 0 \(graph 0\)"),
    (dict(senders=np.array([0, 2, 2]), edges=np.array([1.0, 0.5, 1.0])), r"edge 1 from node 2"),
    (dict(edges=np.ones(2)), r"edges: expected weights \(3,\) or edge features \(3, k\); got shape \(2,\)"),
    (dict(n_node=np.array([2.0, 1.0])), r"n_node: expected a 1-D integer array"),
])
def test_check_graphs_names_the_bad_field(changes, message):
    with pytest.raises(ValueError, match=message):
        check_graphs(_two_graphs(**changes))


def test_check_graphs_lets_weight_zero_padding_edges_cross_graphs():
    check_graphs(_two_graphs(senders=np.array([0, 2, 2]), edges=np.array([1.0, 0.0, 1.0])))


def test_graph_layer_checks_concrete_graphs_and_refuses_to_check_tracers():
    layer = GraphLayer(d_in=2, d_out=3)
    params = functional.init(jax.random.key(0), layer)
    check_graphs(_two_graphs())
    assert layer.apply(params, _two_graphs()).shape == (3, 3)
    with pytest.raises(ValueError, match=r"got 3 at edge 2"):
        layer.apply(params, _two_graphs(senders=np.array([0, 1, 3])))
    with pytest.raises(TypeError, match="got tracers"):
        jax.jit(check_graphs)(_two_graphs())
    # under jit the layer cannot check (documented); a valid graph still computes
    assert jax.jit(layer.apply)(params, _two_graphs()).shape == (3, 3)


# ---------------------------------------------------------------- 10. groups given by generators


CYCLE, SWAP = [1, 2, 0], [1, 0, 2]


@pytest.mark.parametrize("bad, message", [
    ([["1", "0"]], r"generator 0 must hold integer permutation images; got \['1', '0'\]"),
    ([[True, False]], r"generator 0 must hold integer permutation images; got \[True, False\]"),
    ([1, 0], r"expected a list of permutations .*got generator 0 of shape \(\)"),
])
def test_from_generators_names_what_it_expected(bad, message):
    with pytest.raises(ValueError, match=message):
        groups.from_generators(bad)


def test_generators_in_another_order_give_the_same_group():
    a = groups.from_generators([CYCLE, SWAP])
    b = groups.from_generators([SWAP, CYCLE])
    assert a != b  # presentations differ (actions store images of these generators) ...
    assert a.same_elements(b) and b.same_elements(groups.symmetric(3))  # ... the permutations do not
    assert not a.same_elements(groups.cyclic(3))
    summed = actions.direct_sum(actions.base(a), actions.base(b))
    # S_3 on two copies of its points: generator k moves both blocks alike
    np.testing.assert_array_equal(summed.generators, [CYCLE + [3 + i for i in CYCLE], SWAP + [3 + i for i in SWAP]])


def test_orbits_between_presentations_match_the_brute_force_orbits():
    a = groups.from_generators([CYCLE, SWAP])
    b = groups.from_generators([SWAP, CYCLE])
    out = actions.from_images(a, [CYCLE, SWAP])  # S_3 on its points, given by images of a's generators
    index_map, k = sharing.orbit_index_map(out, actions.base(b))
    # S_3 acting on pairs (i, j) of points: the diagonal and the rest
    assert k == 2 and index_map.tolist() == [[0, 1, 1], [1, 0, 1], [1, 1, 0]]
    spec = functional.SharedDense(actions.base(b), out)
    w = spec.weights({"w": jnp.array([2.0, -1.0]), "b": jnp.zeros(1)})
    for g in groups.symmetric(3).elements():  # W rho_in(g) = rho_out(g) W for every element
        p = np.eye(3)[g]
        np.testing.assert_allclose(w @ p.T, p.T @ w)


def test_different_groups_print_what_differs():
    c3 = groups.from_generators([CYCLE])
    s3 = groups.from_generators([CYCLE, SWAP])
    with pytest.raises(ValueError, match=r"generator \[1, 0, 2\] of the second group \(order 6\) is not in the "
                                         r"other \(order 3\)"):
        actions.direct_sum(actions.base(c3), actions.base(s3))
    with pytest.raises(ValueError, match=r"with generators \[\[1, 2, 0\]\].*with generators \[\[1, 2, 0\], "
                                         r"\[1, 0, 2\]\]"):
        sharing.orbit_index_map(actions.base(c3), actions.base(s3))


def test_symmetry_error_accepts_another_presentation_of_the_group():
    a = groups.from_generators([CYCLE, SWAP])
    b = groups.from_generators([SWAP, CYCLE])
    f = lambda x: jnp.sum(x, axis=-1, keepdims=True)  # invariant
    err = symmetry_error(f, jnp.arange(6.0).reshape(2, 3), actions.base(a), actions.trivial(b), jax.random.key(0))
    assert float(err) == 0.0


# ---------------------------------------------------------------- 5. a damaged NCI1 copy


NCI1_DIR = Path(tu.__file__).resolve().parents[2].parent / "shared" / "data" / "NCI1"
needs_nci1 = pytest.mark.skipif(not (NCI1_DIR / "NCI1_A.txt").is_file(), reason=f"NCI1 not present at {NCI1_DIR}")


def _damaged_copy(tmp_path, fname, line, text):
    """The four NCI1 files copied to tmp_path/NCI1, 1-based ``line`` of ``fname`` replaced by ``text``.

    Returns (directory, the line's original text).
    """
    copy = tmp_path / "NCI1"
    copy.mkdir()
    for f in tu.dataset_files("NCI1"):
        shutil.copy(NCI1_DIR / f, copy / f)
    lines = (copy / fname).read_bytes().split(b"\n")  # the files end lines with \r\n: keep the \r
    original = lines[line - 1].rstrip(b"\r")
    lines[line - 1] = text.encode() + lines[line - 1][len(original):]
    (copy / fname).write_bytes(b"\n".join(lines))
    return copy, original.decode()


@needs_nci1
def test_malformed_nci1_line_is_reported_with_how_to_restore(tmp_path, monkeypatch):
    monkeypatch.setattr(tu, "SHARED_DATA_DIR", NCI1_DIR.parent)
    copy, _ = _damaged_copy(tmp_path, "NCI1_A.txt", 10, "5, x")
    with pytest.raises(tu.CorruptDatasetError) as info:
        tu.load_tu_dataset(copy)
    message = str(info.value)
    assert "\n" not in message and info.value.__cause__ is None and info.value.__suppress_context__
    assert f"{copy / 'NCI1_A.txt'}: line 10: expected an integer, found 'x'" in message
    assert f"from the shared copy {NCI1_DIR}" in message and tu.NCI1_URL in message


@needs_nci1
def test_changed_nci1_value_is_located_against_the_shared_copy(tmp_path, monkeypatch):
    monkeypatch.setattr(tu, "SHARED_DATA_DIR", NCI1_DIR.parent)
    copy, original = _damaged_copy(tmp_path, "NCI1_node_labels.txt", 7, "5")
    assert original != "5"
    with pytest.raises(tu.CorruptDatasetError,
                       match=rf"NCI1_node_labels.txt: line 7: found '5', the official release has '{original}'"):
        tu.load_tu_dataset(copy)


@needs_nci1
def test_changed_nci1_value_without_a_shared_copy_names_the_digests(tmp_path, monkeypatch):
    monkeypatch.setattr(tu, "SHARED_DATA_DIR", tmp_path / "no_shared")
    copy, _ = _damaged_copy(tmp_path, "NCI1_graph_labels.txt", 3, "-1")
    with pytest.raises(tu.CorruptDatasetError) as info:
        tu.load_tu_dataset(copy)
    message = str(info.value)
    assert "\n" not in message and tu.NCI1_SHA256["NCI1_graph_labels.txt"] in message
    assert "shared copy" not in message and tu.NCI1_URL in message


# ---------------------------------------------------------------- 7. a damaged checkpoint


def _damaged_store(tmp_path, written_before_files_sha256):
    """step_2 intact, step_4 with truncated data files; 200 leaves, so many reads are in flight on restore."""
    store = CheckpointStore(str(tmp_path), {"run": 1}, keep=3)
    state = {f"leaf{i:03d}": np.full((64,), i, np.float32) for i in range(200)}
    store.save(2, state)
    store.save(4, state)
    step4 = tmp_path / "step_4"
    _truncate_data_files(step4)
    if written_before_files_sha256:
        (step4 / FILES_DIGEST_FILE).unlink()  # (as a run stopped between the commit and the digest leaves it)
    return store, state


@pytest.mark.parametrize("written_before_files_sha256", [False, True])
def test_damaged_checkpoint_is_one_warning_line(tmp_path, capfd, caplog, monkeypatch, written_before_files_sha256):
    reports = []  # what reaches sys.unraisablehook, where orbax's "Event loop is closed" tracebacks went
    monkeypatch.setattr(sys, "unraisablehook", reports.append)
    caplog.set_level(logging.DEBUG)
    for trial in range(2):  # the late reports of a failed orbax restore come in most tries, not all
        store, state = _damaged_store(tmp_path / str(trial), written_before_files_sha256)
        orbax_restored = []
        restore = store.manager.restore
        monkeypatch.setattr(store.manager, "restore",
                            lambda step, args: orbax_restored.append((step, *args.keys())) or restore(step, args=args))
        capfd.readouterr()
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            epoch, restored, _ = store.restore_latest(state)
        time.sleep(0.3)
        gc.collect()
        store.save(4, state)  # a resumed sweep saves step_4 again; late reports came up to here
        assert epoch == 2 and all(np.array_equal(restored[k], state[k]) for k in state)
        # checkpoints with files_sha256 never reach orbax when damaged
        read_step_2 = [(2, "fingerprint"), (2, "state")]
        assert orbax_restored == ([(4, "fingerprint"), (4, "state")] + read_step_2 if written_before_files_sha256
                                  else read_step_2)
        # (a garbage collection inside restore_latest may also warn about other tests' unclosed files)
        messages = [str(w.message) for w in record if not issubclass(w.category, ResourceWarning)]
        assert len(messages) == 1 and "skipping checkpoint" in messages[0] and "step_4" in messages[0]
        assert "\n" not in messages[0] and len(messages[0]) < 500
        out, err = capfd.readouterr()
        assert not reports, [str(r.exc_value) for r in reports]
        for text in (out, err, caplog.text):
            assert "Event loop is closed" not in text and "Traceback" not in text


def test_quiet_closed_loop_reports_outlives_a_failed_body_and_passes_others_on(monkeypatch):
    reports = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: reports.append(str(u.exc_value)))
    original = sys.unraisablehook
    closed = asyncio.new_event_loop()
    closed.close()

    class LateRead:  # a read that completes after the restore failed, as tensorstore's do
        def __del__(self):
            closed.call_soon_threadsafe(print)

    class OtherError:
        def __del__(self):
            raise KeyError("not ours")

    with _quiet_closed_loop_reports():  # a body that returns leaves no filter behind
        LateRead()
        OtherError()
    assert sys.unraisablehook is original and reports == ["'not ours'"]
    LateRead()
    assert reports == ["'not ours'", "Event loop is closed"]
    reports.clear()

    with pytest.raises(ValueError, match="damaged"):
        with _quiet_closed_loop_reports():
            raise ValueError("damaged")
    late = threading.Thread(target=lambda: (time.sleep(0.5), LateRead(), OtherError()))
    late.start()  # long after the failed body, as on a loaded machine
    late.join()
    assert reports == ["'not ours'"]
    with _quiet_closed_loop_reports():  # a second restore does not stack a second filter
        pass
    assert sys.unraisablehook.previous is original


# ---------------------------------------------------------------- metrics and sharing entry points


def test_symmetry_error_refuses_zero_samples_and_non_actions():
    s3 = groups.symmetric(3)
    f = lambda x: x
    x = jnp.ones((2, 3))
    with pytest.raises(ValueError, match=r"num_samples: expected an integer >= 1, got 0"):
        symmetry_error(f, x, actions.base(s3), actions.base(s3), jax.random.key(0), num_samples=0)
    with pytest.raises(TypeError, match=r"action_out: expected an action with .group and .act.*PermutationGroup"):
        symmetry_error(f, x, actions.base(s3), s3, jax.random.key(0))


def test_point_pair_orbits_refuses_images_of_different_generator_lists():
    # zip() would silently drop the second generator of the output side
    with pytest.raises(ValueError, match=r"same generators on both sides, got shapes \(2, 3\) and \(1, 3\)"):
        sharing.point_pair_orbits(np.array([CYCLE, SWAP]), np.array([CYCLE]))
    with pytest.raises(ValueError, match=r"images_in: expected integer point images in \[0, 3\).*range \[0, 3\]"):
        sharing.point_pair_orbits(np.array([CYCLE]), np.array([[1, 3, 0]]))
    labels, k = sharing.point_pair_orbits(np.array([CYCLE, SWAP]), np.array([CYCLE, SWAP]))
    assert k == 2 and labels.tolist() == [[0, 1, 1], [1, 0, 1], [1, 1, 0]]  # S_3 on point pairs: diagonal, rest


def test_bias_index_map_names_what_it_expected():
    with pytest.raises(TypeError, match="action_out must be a symjax.actions.Action; got PermutationGroup"):
        sharing.bias_index_map(groups.symmetric(3))


def test_late_read_failures_of_a_failed_restore_are_not_logged(tmp_path, caplog):
    # asyncio logs "Task exception was never retrieved" (with a traceback) when a read task of a failed
    # orbax restore is collected; the filter drops exactly the records naming that checkpoint's folder.
    damaged, other = tmp_path / "step_4", tmp_path / "step_40"
    caplog.set_level(logging.DEBUG)
    _drop_late_read_logs(str(damaged))
    logger = logging.getLogger("asyncio")

    def log_failed_read(folder):
        try:
            raise ValueError(f'OUT_OF_RANGE: Error reading in OCDBT database at local file "{folder}/"')
        except ValueError:
            logger.error("Task exception was never retrieved", exc_info=True)

    log_failed_read(damaged)
    assert "Traceback" not in caplog.text
    log_failed_read(other)  # another folder, even one whose name extends the damaged one's, is still logged
    logger.error("an asyncio error without an exception")
    assert caplog.text.count("Task exception was never retrieved") == 1 and "step_40" in caplog.text
    assert "an asyncio error without an exception" in caplog.text
    _drop_late_read_logs(str(damaged))
    assert logger.filters.count(_FAILED_RESTORE_READS) == 1
