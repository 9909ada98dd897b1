r"""Classify the sum of a set of MNIST digits: an NNX model with symjax heads beside a dense head.

flax's examples/mnist (the NNX CNN), turned into a set task: each example is
a set of ``set_size`` digits, the label their sum (0 .. 9 * set_size). One CNN
embeds every digit; three heads read the set of embeddings e (B, n, d):

* dense:  nnx.Linear on the flattened embeddings (B, n d): not invariant;
* shared: symjax.nn.nnx.SharedDense from blocks(S_n, d) to trivial(S_n, h):
          invariant by parameter sharing (its input flattened element-major,
          e.reshape(B, n * d));
* set:    symjax.nn.nnx.SetLayer (equivariant), then the mean over the set:
          invariant, and it takes sets of any size.

Each head is followed by ReLU and nnx.Linear(h, classes). All train with the
flax example's optimiser, SGD with momentum 0.9 at learning rate 0.1, which
the shared heads tolerate through their default 'normalized' parametrisation.
The script prints test accuracy and the measured invariance error
(``metrics.symmetry_error`` over relabellings of the set).

Digits come from symjax.data.mnist (../shared/data/MNIST, read in place):
the first 80% of the available digits build the training sets, the rest the
test sets.

    python experiments/examples/flax_digit_sets.py --num_train_sets=3000 --epochs=4
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags
from flax import nnx

from symjax import actions, groups, metrics
from symjax.data.mnist import load_mnist
from symjax.nn import nnx as sj_nnx

FLAGS = flags.FLAGS
flags.DEFINE_integer("set_size", 3, "Digits per set.")
flags.DEFINE_integer("num_train_sets", 3000, "Training sets.")
flags.DEFINE_integer("num_test_sets", 500, "Test sets.")
flags.DEFINE_integer("epochs", 4, "Epochs.")
flags.DEFINE_integer("batch_size", 32, "Sets per step.")
flags.DEFINE_float("learning_rate", 0.1, "SGD learning rate (the flax mnist example's).")
flags.DEFINE_string("data_dir", None, "MNIST directory (default: symjax.data.mnist's search).")

EMBED = 32
HIDDEN = 64


class CNN(nnx.Module):
    """The digit embedding: a small version of flax's mnist CNN, (..., 784) -> (..., EMBED)."""

    def __init__(self, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(1, 8, kernel_size=(3, 3), rngs=rngs)
        self.conv2 = nnx.Conv(8, 16, kernel_size=(3, 3), rngs=rngs)
        self.linear = nnx.Linear(7 * 7 * 16, EMBED, rngs=rngs)

    def __call__(self, x):
        batch = x.shape[:-1]
        h = x.reshape(-1, 28, 28, 1)
        h = nnx.avg_pool(nnx.relu(self.conv1(h)), window_shape=(2, 2), strides=(2, 2))
        h = nnx.avg_pool(nnx.relu(self.conv2(h)), window_shape=(2, 2), strides=(2, 2))
        return self.linear(h.reshape(h.shape[0], -1)).reshape(*batch, EMBED)


class SetSumModel(nnx.Module):
    """CNN per digit, then one head: 'dense', 'shared' or 'set'. x (B, n, 784) -> logits (B, classes)."""

    def __init__(self, head: str, set_size: int, *, rngs: nnx.Rngs):
        self.head, self.set_size = head, set_size
        self.cnn = CNN(rngs=rngs)
        s_n = groups.symmetric(set_size)
        if head == "dense":
            self.body = nnx.Linear(set_size * EMBED, HIDDEN, rngs=rngs)
        elif head == "shared":
            self.body = sj_nnx.SharedDense(actions.blocks(s_n, EMBED), actions.trivial(s_n, HIDDEN), rngs=rngs)
        elif head == "set":
            self.body = sj_nnx.SetLayer(set_size, EMBED, HIDDEN, rngs=rngs)
        else:
            raise ValueError(f"head: expected 'dense', 'shared' or 'set'; got {head!r}")
        self.out = nnx.Linear(HIDDEN, 9 * set_size + 1, rngs=rngs)

    def __call__(self, x):
        e = nnx.relu(self.cnn(x))                                  # (B, n, EMBED)
        if self.head == "set":
            h = jnp.mean(nnx.relu(self.body(e)), axis=-2)          # equivariant layer, then pool
        else:
            h = nnx.relu(self.body(e.reshape(*e.shape[:-2], -1)))  # element-major flattening
        return self.out(h)


def make_sets(images, labels, num_sets: int, set_size: int, rng):
    picks = rng.integers(0, len(images), size=(num_sets, set_size))
    x = images[picks].reshape(num_sets, set_size, 784).astype(np.float32) / 255.0
    return x, labels[picks].sum(axis=1).astype(np.int32)


def train_and_evaluate(head: str, set_size: int = 3, num_train_sets: int = 2000, num_test_sets: int = 500,
                       epochs: int = 3, batch_size: int = 32, learning_rate: float = 0.1, data_dir=None,
                       seed: int = 0) -> dict:
    """Trains one head; returns test accuracy, test loss and the invariance error on test sets."""
    digits = load_mnist(data_dir)
    split = int(0.8 * len(digits.images))
    rng = np.random.default_rng(seed)
    train_x, train_y = make_sets(digits.images[:split], digits.labels[:split], num_train_sets, set_size, rng)
    test_x, test_y = make_sets(digits.images[split:], digits.labels[split:], num_test_sets, set_size, rng)
    model = SetSumModel(head, set_size, rngs=nnx.Rngs(seed))
    optimizer = nnx.Optimizer(model, optax.sgd(learning_rate, momentum=0.9), wrt=nnx.Param)

    def loss_fn(model, x, y):
        logits = model(x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), logits

    @nnx.jit
    def train_step(model, optimizer, x, y):
        (loss, _), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model, x, y)
        optimizer.update(model, grads)
        return loss

    for _ in range(epochs):
        order = rng.permutation(num_train_sets)
        for start in range(0, num_train_sets - batch_size + 1, batch_size):
            idx = order[start:start + batch_size]
            train_step(model, optimizer, jnp.asarray(train_x[idx]), jnp.asarray(train_y[idx]))

    loss, logits = nnx.jit(loss_fn)(model, jnp.asarray(test_x), jnp.asarray(test_y))
    s_n = groups.symmetric(set_size)
    error = metrics.symmetry_error(nnx.jit(lambda x: model(x)), jnp.asarray(test_x[:100]), actions.points(s_n),
                                   actions.trivial(s_n, 9 * set_size + 1), seed)
    return {"test_accuracy": float(jnp.mean(jnp.argmax(logits, -1) == test_y)), "test_loss": float(loss),
            "invariance_error": float(error)}


def main(argv):
    del argv
    for head in ("dense", "shared", "set"):
        result = train_and_evaluate(head, FLAGS.set_size, FLAGS.num_train_sets, FLAGS.num_test_sets, FLAGS.epochs,
                                    FLAGS.batch_size, FLAGS.learning_rate, FLAGS.data_dir)
        print(f"{head:6s} head: test accuracy {result['test_accuracy']:.3f}  test loss {result['test_loss']:.3f}  "
              f"invariance error {result['invariance_error']:.2e}")


if __name__ == "__main__":
    app.run(main)
