"""Two CPU processes train one model: the DDP path of `make train NPROC=2`, over gloo.

`accelerate launch --cpu --num_processes 2` starts a single process (accelerate's multi-CPU
launcher is mpirun), so a test that only checked the exit code would pass on one process. The
Makefile launches NPROC processes with torchrun instead; this test proves both ranks trained:
the trainer's global batch counts both processes (and rank 1's log exists but prints none of the lines).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import ROOT

PER_DEVICE_BATCH = 8


def test_two_cpu_processes_train_together_and_write_one_checkpoint(tiny_model_dir, tmp_path):
    out, logs = tmp_path / "run", tmp_path / "logs"
    env = dict(os.environ, PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1",
               TRANSFORMERS_VERBOSITY="info")  # info: the trainer logs its global batch size
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--log-dir", str(logs),
               "--redirects", "3", "-m", "scripts.train",
               "--config", str(ROOT / "recipes" / "cpu_countdown_tiny.yaml"), "--model_name_or_path",
               str(tiny_model_dir), "--tiny_base_recipe", "", "--output_dir", str(out), "--max_steps", "2",
               "--save_steps", "2", "--per_device_train_batch_size", str(PER_DEVICE_BATCH), "--num_generations", "4",
               "--max_completion_length", "12", "--holdout_size", "0", "--max_train_samples", "64",
               "--disable_tqdm", "true"]
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    rank_dirs = {p.name: p for p in logs.glob("*/attempt_0/*") if p.is_dir()}
    assert set(rank_dirs) == {"0", "1"}
    # One console: rank 0 prints what a person reads, rank 1 stays quiet.
    assert "data: 64 training prompts" in (rank_dirs["0"] / "stdout.log").read_text()
    assert "data:" not in (rank_dirs["1"] / "stdout.log").read_text()
    # One process would report 8: the global batch spans both ranks.
    rank0_log = (rank_dirs["0"] / "stderr.log").read_text()
    assert f"Total train batch size (w. parallel, distributed & accumulation) = {2 * PER_DEVICE_BATCH}" in rank0_log

    checkpoints = sorted(p.name for p in out.glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-2"]
    assert json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())["global_step"] == 2
