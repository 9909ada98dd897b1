"""Batched sweep engine: all lanes (seed x train size x augmentation) of one architecture in one program.

    from symjax.train import Lane, LaneFns, TrainConfig, sweep, write_results
    result = sweep(LaneFns(init_fn, apply_fn), pool_x, pool_y, lanes, TrainConfig(loss="mse"))
    write_results("out/", result.rows)
"""

from symjax.train.config import Lane, TrainConfig
from symjax.train.engine import LaneFns, SweepResult, compile_sweep, sweep
from symjax.train.execution import Execution
from symjax.train.lanes import process_slice
from symjax.train.results import COLUMNS, read_results, write_results

__all__ = ["COLUMNS", "Execution", "Lane", "LaneFns", "SweepResult", "TrainConfig", "compile_sweep", "process_slice", "read_results", "sweep",
           "write_results"]
