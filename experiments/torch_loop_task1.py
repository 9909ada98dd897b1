"""Task 1 as a plain sequential PyTorch loop: the reference that the engine's speed is measured against.

One lane (model, train size, seed) after another, in the thesis's style: the data of
``symjax.data.set_function.make_splits`` (Table 2 sizes), shuffled batches, ``torch.optim.Adam(1e-3)`` on
the MSE, the validation loss every epoch, the test loss at the end, no early stopping. The models are
Task 1's: the vanilla MLP (widths ``BLOCK_WIDTHS`` times n) and the S_n set layers (eq. 10) with a mean
over the blocks, at PyTorch's default initialisation; ``_aug`` permutes each training example's blocks
by its own random permutation every epoch (the project's ``--augment_per=example``). Imports numpy and
torch only (and symjax's numpy data module), so its whole-process time is the loop's own.

    python experiments/torch_loop_task1.py --n_blocks=5 --seeds=3 --epochs=20 --json_out=/tmp/torch.json

Used by experiments/bench_defaults.py (whole processes) and experiments/bench_sweep.py (in process).
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from symjax.data.set_function import TABLE2, make_splits, split_sizes  # noqa: E402
from symjax.models.set_models import BLOCK_WIDTHS  # noqa: E402

LEARNING_RATE = 1e-3
MODELS = ("vanilla", "vanilla_aug", "shared", "shared_aug")


def torch_model(torch, architecture: str, n_blocks: int):
    """The Task 1 model in PyTorch (torch's default init): vanilla MLP or S_n set layers + mean over blocks."""
    nn = torch.nn
    if architecture == "vanilla":
        widths = [n_blocks * w for w in BLOCK_WIDTHS] + [1]
        layers = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.01)]
        return nn.Sequential(*layers[:-1])

    class SetLayer(nn.Module):  # y_i = x_i A + (sum_{j != i} x_j) B + bias  (DeepSets form, eq. 10)
        def __init__(self, d_in, d_out):
            super().__init__()
            self.a, self.b = nn.Linear(d_in, d_out), nn.Linear(d_in, d_out, bias=False)

        def forward(self, x):
            return self.a(x) + self.b(x.sum(dim=-2, keepdim=True) - x)

    class SharedMLP(nn.Module):
        def __init__(self):
            super().__init__()
            widths = list(BLOCK_WIDTHS) + [1]
            self.layers = nn.ModuleList(SetLayer(a, b) for a, b in zip(widths[:-1], widths[1:]))

        def forward(self, x):
            h = x[..., None]
            for k, layer in enumerate(self.layers):
                h = layer(h)
                if k < len(self.layers) - 1:
                    h = nn.functional.leaky_relu(h, 0.01)
            return h.mean(dim=-2)

    return SharedMLP()


def train_lane(torch, model_name: str, n_blocks: int, x, y, xv, yv, xt, yt, batch_size: int, epochs: int,
               seed: int) -> tuple[float, list[float]]:
    """Trains one lane for `epochs` epochs (validation loss each epoch); returns (test loss, seconds of each
    epoch)."""
    torch.manual_seed(seed)
    architecture, augment = model_name.removesuffix("_aug"), model_name.endswith("_aug")
    model = torch_model(torch, architecture, n_blocks)
    opt = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    mse = torch.nn.functional.mse_loss
    epoch_s = []
    for _ in range(epochs):
        epoch_start = time.perf_counter()
        for batch in torch.randperm(len(x)).split(batch_size):
            opt.zero_grad()
            inputs = x[batch]
            if augment:  # each example's blocks by its own permutation
                inputs = torch.gather(inputs, 1, torch.rand(inputs.shape).argsort(dim=1))
            loss = mse(model(inputs), y[batch])
            loss.backward()
            opt.step()
        with torch.no_grad():
            mse(model(xv), yv).item()
        epoch_s.append(time.perf_counter() - epoch_start)
    with torch.no_grad():
        return mse(model(xt), yt).item(), epoch_s


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n_blocks", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. seeds-1 per train size")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--models", default="vanilla,shared", help="comma list of " + ", ".join(MODELS))
    parser.add_argument("--train_sizes", default=",".join(map(str, TABLE2)), help="comma list (Table 2's)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--json_out", default=None, help="write {wall_s, lanes, test_loss} here")
    args = parser.parse_args(argv)
    models = args.models.split(",")
    if not set(models) <= set(MODELS):
        parser.error(f"--models: expected a comma list of {', '.join(MODELS)}; got {args.models!r}")
    start = time.perf_counter()
    import torch  # noqa: PLC0415  (inside the timed process: the reference pays its own import, as the engine does)

    torch.set_num_threads(args.threads)
    losses, lanes = [], []
    for model_name in models:
        for train_size in map(int, args.train_sizes.split(",")):
            _, _, batch_size = split_sizes(train_size)
            for seed in range(args.seeds):
                lane_start = time.perf_counter()
                data = {k: tuple(torch.from_numpy(np.asarray(a)) for a in v)
                        for k, v in make_splits(seed, train_size, args.n_blocks).items()}
                loss, epoch_s = train_lane(torch, model_name, args.n_blocks, *data["train"], *data["val"],
                                           *data["test"], batch_size, args.epochs, seed)
                losses.append(loss)
                lanes.append({"model": model_name, "n_blocks": args.n_blocks, "train_size": train_size, "seed": seed,
                              "epoch_s": epoch_s, "wall_s": time.perf_counter() - lane_start})
    result = {"wall_s": time.perf_counter() - start, "lanes": len(losses), "test_loss": losses, "per_lane": lanes,
              "torch": torch.__version__}
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(result, f)
    return result


if __name__ == "__main__":
    print(json.dumps({k: v for k, v in main().items() if k not in ("test_loss", "per_lane")}))
