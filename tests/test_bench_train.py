"""`make bench-train` in quick mode (1 run per path, 2 steps), so the bench cannot rot, plus its arithmetic."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import FIXTURES, ROOT
from scripts.bench.train_runs import parse_variant
from scripts.bench.train_timing import breakdown, summarise

SHRINK = "--per_device_train_batch_size 8 --num_generations 4 --max_completion_length 12 --max_train_samples 64"


def bench(*args, env):
    return subprocess.run([sys.executable, "-m", "scripts.bench.train", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def quick_bench(tiny_model_dir, tmp_path_factory):
    import os

    out = tmp_path_factory.mktemp("bench")
    env = dict(os.environ, PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="")
    proc = bench("--model", str(tiny_model_dir), "--reps", "1", "--steps", "2", "--warmup", "0", "--threads", "1",
                 "--gsm8k", str(FIXTURES / "gsm8k_tiny.jsonl"), "--countdown-n", "500", "--out", str(out),
                 "--args", SHRINK, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def table_row(stdout: str, label: str) -> list[str]:
    line = next((line for line in stdout.splitlines() if line.startswith(f"| {label}")), None)
    assert line is not None, f"no row {label!r} in:\n{stdout}"
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_quick_bench_times_both_paths_on_the_same_completions(quick_bench):
    for label in ("project: scripts.train", "bare TRL: GRPOTrainer script"):
        cells = table_row(quick_bench, label)
        seconds, cpu_seconds, tokens_per_s, length, rss = (float(c.replace(",", "")) for c in cells[1:6])
        assert seconds > 0 and cpu_seconds > 0 and tokens_per_s > 0 and rss > 0
        assert 1 <= length <= 12  # max_completion_length 12
    for what in ("wall", "CPU"):
        assert re.search(rf"ratio project/bare, {what} time per step: \d+\.\d{{3}} \(median over interleaved pairs, "
                         r"each the ratio of mean step times: \d+\.\d{3}; ratio of pooled medians \d+\.\d{3}\) -> "
                         r"target <= 1.05: (met|MISSED)", quick_bench), what
    assert re.search(r"kit-only callbacks \([^)]*AhaTracker[^)]*\): \d+\.\d{4} s/step = \d+\.\d\d % of the project's "
                     r"step; reward functions: \d+\.\d\d %", quick_bench)
    # Same weights, seed and config: both paths must sample the same completions, or s/step compares apples to pears.
    assert "same completions in both paths (equal mean length at every step): yes" in quick_bench


def test_quick_bench_breaks_a_step_down_and_only_the_kit_has_its_callbacks(quick_bench):
    for part in ("generation (model.generate)", "reward: format_reward", "reward: countdown_reward",
                 "loss forward (compute_loss)", "backward", "total step"):
        project, bare = table_row(quick_bench, part)[1:]
        assert project != "-" and bare != "-", part
    project, bare = table_row(quick_bench, "callback: AhaTracker")[1:]
    assert project != "-" and bare == "-"
    assert re.search(r"\| total step \| [\d.]+ \(100\.0 %\) \| [\d.]+ \(100\.0 %\) \|", quick_bench)


def test_quick_bench_times_the_data_path_with_exact_row_counts(quick_bench):
    # The fixture has 5 rows, one without a '####' answer line.
    assert table_row(quick_bench, "GSM8K train preprocessing (5 rows -> 4 prompts, 1 skipped)")[3] == "< 3 s"
    assert table_row(quick_bench, "Countdown: 500 problems (generator defaults")[3] == "< 10 s"
    assert table_row(quick_bench, "Countdown: 500 problems (the recipe's settings)")[4] == "met"


def test_summary_times_steps_between_step_begins_and_attributes_regions_by_start():
    result = {
        "started": -10.0, "step_begins": [0.0, 1.0, 3.0, 6.0], "step_cpu": [0.0, 0.5, 1.0, 3.0],
        "completions_per_step": 8, "peak_rss_mib": 100.0,
        "torch_threads": 1,
        # (name, start, seconds): the first falls in the warm-up step and is left out.
        "regions": [("transformers.generate", 0.5, 0.4), ("transformers.generate", 1.5, 1.0),
                    ("transformers.generate", 4.0, 2.0), ("training_step", 1.1, 1.5)],
        "logs": [{"completions/mean_length": 99.0, "step": 1}, {"completions/mean_length": 10.0, "step": 2},
                 {"completions/mean_length": 20.0, "step": 3}],
    }
    summary = summarise(result, warmup=1)
    assert summary["step_s"] == [2.0, 3.0]
    assert summary["median_s"] == 2.5
    assert summary["cpu_s"] == [0.5, 2.0]
    assert summary["mean_length"] == 15.0  # steps 2 and 3; step 1 was warm-up
    assert summary["tokens_per_s"] == 15.0 * 8 / 2.5
    assert summary["startup_s"] == 10.0
    assert summary["parts"] == {"transformers.generate": 1.5, "training_step": 0.75}


def test_breakdown_rows_do_not_overlap_and_add_up_to_the_step():
    parts = {"training_step": 6.0, "_prepare_inputs": 4.0, "transformers.generate": 2.5, "_calculate_rewards": 0.5,
             "format_reward": 0.1, "countdown_reward": 0.3, "compute_loss": 1.0, "log": 0.4,
             "callback AhaTracker.on_log": 0.2, "callback AhaTracker.on_step_end": 0.1}
    rows = dict(breakdown(parts, step=7.0))
    assert rows["generation (model.generate)"] == 2.5
    assert rows["reward bookkeeping (TRL _calculate_rewards)"] == pytest.approx(0.1)
    assert rows["log-probs (old/reference), advantages"] == 1.0
    assert rows["backward"] == 1.0
    assert rows["callback: AhaTracker"] == pytest.approx(0.3)
    assert rows["logging (TRL metrics, completions table)"] == pytest.approx(0.2)
    assert rows["optimizer, grad clip, next batch, rest"] == pytest.approx(0.5)
    assert sum(rows.values()) == pytest.approx(7.0)


@pytest.mark.parametrize("text, expected", [
    ("t1=OMP_NUM_THREADS=1", ("t1", [], {"OMP_NUM_THREADS": "1"})),
    ("cap=--max_completion_length 96 --top_k=0", ("cap", ["--max_completion_length", "96", "--top_k=0"], {})),
])
def test_variant_flags_and_environment_are_told_apart(text, expected):
    assert parse_variant(text) == expected


@pytest.mark.parametrize("args, message", [
    (["--recipe", "recipes/nope.yaml"], "error: recipe file not found: recipes/nope.yaml"),
    (["--variant", "no-equals-sign"], "error: --variant 'no-equals-sign': write NAME=\"FLAGS\""),
    (["--steps", "2", "--warmup", "2"], "error: need --reps >= 1 and --steps >= --warmup + 2"),
    (["--gsm8k", "missing.jsonl"], "error: --gsm8k missing.jsonl: file not found"),
])
def test_bad_input_is_one_line_and_exit_code_2(args, message, run_env):
    proc = bench(*args, env=run_env)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith(message), proc.stderr
    assert "Traceback" not in proc.stderr
