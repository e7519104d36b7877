"""Data-parallel training with torch.distributed: torchrun with 2 CPU processes (gloo) gives
the weights of single-process training with the same global batch."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from e3core import train
from e3core.cli import main
from test_train import labelled_dataset, tiny_config

HERE = Path(__file__).resolve().parent


def test_torchrun_two_processes_equal_one(tmp_path):
    config = tiny_config(tmp_path, labelled_dataset(), epochs=2, clip_grad_norm=100.0)
    assert main(["train", str(config), "--set", f"output_dir={tmp_path / 'single'}"]) == 0

    paths = [str(HERE), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(filter(None, paths))}
    nice = ["nice", "-n", "19"] if shutil.which("nice") else []
    command = nice + [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "e3core", "train", str(config), "--set", f"output_dir={tmp_path / 'two'}",
    ]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]

    single = train.load_checkpoint(tmp_path / "single" / "last.pt")
    two = train.load_checkpoint(tmp_path / "two" / "last.pt")
    assert two["trainer"]["world_size"] == 2 and two["epoch"] == 2
    for key, value in single["trainer"]["model"].items():
        other = two["trainer"]["model"][key]
        # the same steps; only the order of the sums over the batch differs (float64)
        torch.testing.assert_close(other, value, rtol=1e-10, atol=1e-12, msg=key)
    rows_single = train.read_csv(tmp_path / "single" / "metrics.csv")
    rows_two = train.read_csv(tmp_path / "two" / "metrics.csv")
    for a, b in zip(rows_single, rows_two, strict=True):
        for key in ("train_loss", "val_loss", "val_forces_mae"):
            assert abs(a[key] - b[key]) <= 1e-9 * abs(a[key]), key
