"""Stop it, kill it: a real training subprocess is interrupted and resumed, and nothing is lost.

The runs use the tiny untrained fixture model and a test reward (``tests/slow_reward.py``) that
scores completion length, so every step really changes the weights, and sleeps, so a signal
lands in the middle of a step.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, train_command
from tb import read_events

RECIPE = str(ROOT / "recipes" / "cpu_countdown_tiny.yaml")
MAX_STEPS = 6


def run_args(model_dir, output_dir, *extra) -> list[str]:
    return [
        "--config", RECIPE, "--model_name_or_path", str(model_dir), "--tiny_base_recipe", "",
        "--output_dir", str(output_dir), "--max_steps", str(MAX_STEPS), "--save_steps", "4",
        "--per_device_train_batch_size", "8", "--num_generations", "4", "--max_completion_length", "12",
        "--holdout_size", "4", "--max_train_samples", "64", "--disable_tqdm", "true", "--logging_steps", "1",
        "--reward_funcs", "format_reward", "countdown_reward", "tests.slow_reward.slow_length_reward",
        "--reward_weights", "0.5", "1.0", "1.0", "--preflight", "false", *extra,
    ]


class Training:
    """A training subprocess whose merged output is read line by line as it comes."""

    def __init__(self, args, reward_seconds: float = 0.0, marker: Path | None = None):
        # One torch thread: these runs share 2 cores with other tests, and tiny matmuls gain nothing.
        env = dict(os.environ, PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="", PYTHONUNBUFFERED="1",
                   OMP_NUM_THREADS="1", SLOW_REWARD_SECONDS=str(reward_seconds),
                   SLOW_REWARD_MARKER=str(marker or ""))
        self.marker = marker
        self.proc = subprocess.Popen(train_command(*args), cwd=ROOT, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines: queue.Queue = queue.Queue()
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text: str, timeout: float = 900) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                self.proc.kill()
                raise AssertionError(f"no {text!r} within {timeout} s:\n{self.text[-3000:]}") from None
            if line is None:
                raise AssertionError(f"the run ended before printing {text!r}:\n{self.text[-3000:]}")
            if text in line:
                return

    def wait_for_step(self, step: int, timeout: float = 900) -> None:
        """Until the reward of ``step`` is being computed (tests/slow_reward.py marks each call)."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            if self.marker.is_file() and len(self.marker.read_text().splitlines()) >= step:
                return
            time.sleep(0.01)
        self.proc.kill()
        raise AssertionError(f"step {step} did not start within {timeout} s:\n{self.text[-3000:]}")

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def finish(self, timeout: float = 900) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code

    @property
    def text(self) -> str:
        return "".join(self.output)


def trainer_state(checkpoint: Path) -> dict:
    return json.loads((checkpoint / "trainer_state.json").read_text())


def logged_steps(state: dict) -> list[int]:
    return [entry["step"] for entry in state["log_history"] if "reward" in entry]


@pytest.fixture(scope="module")
def interrupted(tiny_model_dir, tmp_path_factory):
    """A run sent SIGINT while step 2's reward is being computed."""
    out = tmp_path_factory.mktemp("interrupted") / "out"
    run = Training(run_args(tiny_model_dir, out), reward_seconds=2.0, marker=out.with_name("marker"))
    run.wait_for_step(2)
    run.signal(signal.SIGINT)
    code = run.finish()
    # The interrupt's checkpoint is the newest one (a scheduled save may precede it).
    saved = [int(p.name.split("-")[1]) for p in out.glob("checkpoint-*")]
    # As it was left, for the tests that change it (the resumed run below goes on in `out`).
    shutil.copytree(out, out.with_name("as_interrupted"), ignore=shutil.ignore_patterns(".run.lock"))
    return out, code, run.text, max(saved, default=None)


@pytest.fixture(scope="module")
def resumed(interrupted, tiny_model_dir):
    """The same command again: `resume: auto` (the default) picks up the interrupted run."""
    out, _, _, _ = interrupted
    run = Training(run_args(tiny_model_dir, out))
    code = run.finish()
    return out, code, run.text


@pytest.fixture(scope="module")
def straight(tiny_model_dir, tmp_path_factory):
    """The same run, never interrupted: what the resumed one must end with."""
    out = tmp_path_factory.mktemp("straight") / "out"
    run = Training(run_args(tiny_model_dir, out))
    assert run.finish() == 0, run.text[-3000:]
    return out, run.text


def before_after_block(text: str) -> str:
    """What a finished run prints from its before/after table to the line naming its checkpoints."""
    start = text.index("| held-out (n=")
    return text[start:text.index("\ncheckpoints:", start)]


def test_sigint_saves_the_current_step_prints_how_to_resume_and_exits_130(interrupted):
    out, code, text, step = interrupted
    assert code == 130, text[-3000:]
    # The signal came during step 2 (2 s of sleep in its reward), so the run stopped after step 2,
    # or a later one if this machine is very slow; that checkpoint describes exactly that step.
    assert 2 <= step < MAX_STEPS, text[-3000:]
    checkpoint = out / f"checkpoint-{step}"
    assert trainer_state(checkpoint)["global_step"] == step
    assert logged_steps(trainer_state(checkpoint)) == list(range(1, step + 1))
    for name in ("model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth"):
        assert (checkpoint / name).is_file(), name
    assert f"stopped by SIGINT at step {step}/{MAX_STEPS}; saved {checkpoint}\n" in text
    assert f"--reward_weights 0.5 1.0 1.0 --preflight false --resume {checkpoint}\n" in text
    assert "resume with: python -m scripts.train --config " in text
    # An interrupted run is not a finished one: no final model, no "after" numbers.
    assert not (out / "model.safetensors").exists()
    assert "Traceback" not in text


def test_sigint_leaves_a_readable_tensorboard_file_with_every_step(interrupted):
    out, _, _, step = interrupted
    logged = trainer_state(out / f"checkpoint-{step}")["log_history"]
    expected = [(e["step"], e["reward"]) for e in logged if "reward" in e]
    points = read_events(out)["points"]["train/reward"]
    assert [s for s, _ in points] == list(range(1, step + 1))
    assert [v for _, v in points] == pytest.approx([v for _, v in expected], rel=1e-6)


def test_rerun_resumes_from_the_checkpoint_and_reaches_max_steps_with_each_step_once(interrupted, resumed):
    out, code, text = resumed
    assert code == 0, text[-3000:]
    step = interrupted[3]
    assert f"resuming from {out / f'checkpoint-{step}'}" in text
    final = trainer_state(out / f"checkpoint-{MAX_STEPS}")
    assert final["global_step"] == MAX_STEPS == final["max_steps"]
    # The log history carried over from the checkpoint, then continued: no step lost or repeated.
    assert logged_steps(final) == list(range(1, MAX_STEPS + 1))
    assert (out / "model.safetensors").is_file()
    assert [s for s, _ in read_events(out)["points"]["train/reward"]] == list(range(1, MAX_STEPS + 1))


def test_a_resumed_run_ends_with_the_before_after_table_of_an_uninterrupted_one(interrupted, resumed, straight):
    """Ctrl-C and the same command again: the same table and held_out.json as a run never stopped, its
    "before" column the base's, scored when the run started (held_out_before.json) and not again."""
    out, code, text = resumed
    straight_out, straight_text = straight
    assert code == 0, text[-3000:]
    assert "held-out before:" in interrupted[2] and (out / "held_out_before.json").is_file()
    assert "held-out before (scored when the run started, held_out_before.json): format=" in text
    assert before_after_block(text) == before_after_block(straight_text)
    assert json.loads((out / "held_out.json").read_text()) == json.loads((straight_out / "held_out.json").read_text())


def test_a_resumed_run_without_its_before_scores_scores_the_base_again_and_says_so(interrupted, tiny_model_dir,
                                                                                    tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    out, step = tmp_path / "out", interrupted[3]
    shutil.copytree(interrupted[0].with_name("as_interrupted"), out)
    (out / "held_out_before.json").unlink()
    # As a kill -9 between saves leaves it: steps past the checkpoint logged, then lost with the process.
    lost = SummaryWriter(str(out / "runs" / "train"))
    for later in range(step + 1, step + 4):
        lost.add_scalar("train/reward", 99.0, later)
    lost.close()
    run = Training(run_args(tiny_model_dir, out, "--max_steps", str(step + 1)))
    assert run.finish() == 0, run.text[-3000:]
    assert (f"held-out before: {out / 'held_out_before.json'} is missing; scoring the base model "
            f"{tiny_model_dir} again") in run.text
    assert "| held-out (n=4) | before | after |" in run.text and (out / "held_out.json").is_file()
    # TensorBoard shows the resumed run's step, not the lost segment's (purge_step)
    shown = EventAccumulator(str(out / "runs" / "train"), size_guidance={"scalars": 0})
    shown.Reload()
    rewards = shown.Scalars("train/reward")
    assert [e.step for e in rewards] == list(range(1, step + 2)) and 99.0 not in [e.value for e in rewards]


def test_a_resumed_run_appends_to_the_same_tensorboard_run(interrupted, resumed):
    """One folder per output_dir, not runs/<time>: the curve a person watches goes on in the same run (one
    colour), each segment's events in it, and TensorBoard reads the steps 1..N once each."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = resumed[0]
    train_folder = out / "runs" / "train"
    # the interrupted segment's, the resumed one's, and the before/after table's text written at the end
    assert len(list(train_folder.glob("events.out.tfevents.*"))) == 3
    assert {p.parent for p in out.glob("runs/**/events.out.tfevents.*")} == {train_folder}  # the table's text too
    run = EventAccumulator(str(train_folder), size_guidance={"scalars": 0})
    run.Reload()
    assert [e.step for e in run.Scalars("train/reward")] == list(range(1, MAX_STEPS + 1))


def test_a_resume_prints_no_missing_key_warning_for_the_tied_head(resumed):
    """The checkpoint stores a tied lm_head once (as the embedding); the Trainer called that a missing key."""
    out, code, text = resumed
    assert code == 0 and "resuming from" in text
    assert "missing keys" not in text, text[-3000:]
    assert "unexpected keys" not in text


def test_rerunning_a_finished_run_trains_nothing(resumed, tiny_model_dir, tmp_path, capsys, monkeypatch):
    """HF Trainer resumed at max_steps would train one step more; the script stops before that."""
    from scripts.train import run

    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    out, _, _ = resumed
    assert run(run_args(tiny_model_dir, out)) == 0
    assert capsys.readouterr().out == (
        f"nothing to train: {out}/checkpoint-{MAX_STEPS} is at step {MAX_STEPS} of max_steps {MAX_STEPS}; "
        f"final model: {out} (raise max_steps to train on, or choose a new output_dir to start over)\n")
    assert not (out / f"checkpoint-{MAX_STEPS + 1}").exists()
    # Stopped during its last step, a run has that step's checkpoint but no final model yet.
    stopped = tmp_path / "stopped"
    shutil.copytree(out / f"checkpoint-{MAX_STEPS}", stopped / f"checkpoint-{MAX_STEPS}")
    assert run(run_args(tiny_model_dir, stopped)) == 0
    assert f"keep it with: make export CKPT={stopped}/checkpoint-{MAX_STEPS} OUT=<folder>" in capsys.readouterr().out


def test_a_second_signal_exits_at_once_without_saving(tiny_model_dir, tmp_path):
    out = tmp_path / "out"
    # Each reward call sleeps 3 s, so finishing step 2 and saving it would take over 2 s more.
    run = Training(run_args(tiny_model_dir, out, "--save_steps", "100"), reward_seconds=3.0,
                   marker=tmp_path / "marker")
    run.wait_for_step(2)
    run.signal(signal.SIGTERM)
    run.wait_for("SIGTERM: finishing this step")
    run.signal(signal.SIGTERM)
    code = run.finish(timeout=60)
    assert code == 143, run.text[-3000:]
    # At once, not at the step's end: step 1 was logged, step 2 (its reward still sleeping) never was.
    logged = [line.split(" | ")[0] for line in run.text.splitlines() if line.startswith("step ")]
    assert logged == [f"step 1/{MAX_STEPS}"], run.text[-3000:]
    assert "SIGTERM again: exiting now, without saving this step" in run.text
    assert not list(out.glob("checkpoint-*"))


def test_sigkill_during_a_save_then_resume_picks_the_newest_complete_checkpoint(tiny_model_dir, tmp_path, capsys):
    from scripts.lib.runs.resume import checkpoint_problem, last_complete_checkpoint, resolve_resume

    out = tmp_path / "out"
    run = Training(run_args(tiny_model_dir, out, "--save_steps", "1"))
    # Kill the moment checkpoint-2's folder appears: usually while its files are being written. When the kill
    # lands after the save is whole, this checks only that the newest complete checkpoint is chosen; the
    # DAMAGE-parametrized test makes the half-written checkpoint deterministically.
    deadline = time.monotonic() + 900
    while not (out / "checkpoint-2").exists() and run.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    run.signal(signal.SIGKILL)
    assert (out / "checkpoint-2").exists(), f"checkpoint-2 never appeared:\n{run.text[-3000:]}"
    assert run.finish() == -signal.SIGKILL, run.text[-3000:]

    steps = sorted(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*"))
    complete = [s for s in steps if checkpoint_problem(out / f"checkpoint-{s}") is None]
    assert 1 in complete, steps
    newest = max(complete)
    assert last_complete_checkpoint(out) == str(out / f"checkpoint-{newest}")
    warnings = capsys.readouterr().err.strip().splitlines()
    skipped = [s for s in steps if s > newest]
    assert len(warnings) == len(skipped)
    for line, step in zip(warnings, sorted(skipped, reverse=True)):
        assert line.startswith(f"warning: skipping incomplete checkpoint {out / f'checkpoint-{step}'} (")
    assert resolve_resume("auto", str(out)) == str(out / f"checkpoint-{newest}")


# Simulated kills during a save: each leaves the checkpoint folder as the Trainer had written it
# so far (it writes weights, optimizer, scheduler, RNG, then trainer_state.json), or as a crash
# without fsync leaves it (files cut short or zero-length).
def _remove(name):
    return lambda ckpt: (ckpt / name).unlink()


def _truncate(name, keep=0.5):
    def cut(ckpt):
        path = ckpt / name
        path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])
    return cut


DAMAGE = [
    # (how the save was cut short, the reason given in the warning)
    ("killed before trainer_state.json", _remove("trainer_state.json"),
     "no trainer_state.json: its save did not finish"),
    ("killed while writing trainer_state.json", _truncate("trainer_state.json"),
     "trainer_state.json is truncated or not valid JSON"),
    ("model weights cut short", _truncate("model.safetensors"), "model.safetensors is truncated or corrupt"),
    ("model weights zero-length", _truncate("model.safetensors", 0), "model.safetensors is truncated or corrupt"),
    ("model weights missing", _remove("model.safetensors"), "no model weights"),
    ("optimizer state cut short", _truncate("optimizer.pt", 0.9), "optimizer.pt is truncated or corrupt"),
    ("optimizer state zero-length", _truncate("optimizer.pt", 0), "optimizer.pt is truncated or corrupt"),
    ("scheduler state cut short", _truncate("scheduler.pt"), "scheduler.pt is truncated or corrupt"),
    ("RNG state cut short", _truncate("rng_state.pth"), "rng_state.pth is truncated or corrupt"),
    ("model config cut short", _truncate("config.json"), "config.json is truncated or not valid JSON"),
]


@pytest.mark.parametrize("case,damage,reason", DAMAGE, ids=[c[0] for c in DAMAGE])
def test_a_half_written_checkpoint_is_skipped_with_one_warning(interrupted, tmp_path, capsys, case, damage, reason):
    from scripts.lib.runs.resume import checkpoint_problem, last_complete_checkpoint

    source, _, _, step = interrupted
    out = tmp_path / "out"
    good, bad = out / "checkpoint-1", out / "checkpoint-9"
    shutil.copytree(source / f"checkpoint-{step}", good)
    shutil.copytree(source / f"checkpoint-{step}", bad)
    # Make checkpoint-1 / checkpoint-9 describe their own step, as the Trainer's would.
    for ckpt, n in ((good, 1), (bad, 9)):
        state = trainer_state(ckpt)
        state["global_step"] = n
        (ckpt / "trainer_state.json").write_text(json.dumps(state))
    assert checkpoint_problem(bad) is None
    damage(bad)
    assert checkpoint_problem(bad) == reason
    assert last_complete_checkpoint(out) == str(good)
    err = capsys.readouterr().err
    assert err == f"warning: skipping incomplete checkpoint {bad} ({reason})\n"


def test_a_checkpoint_of_several_ranks_missing_one_rank_s_rng_state_is_incomplete(interrupted, tmp_path,
                                                                                  monkeypatch):
    from scripts.lib.runs.resume import checkpoint_problem

    source, _, _, step = interrupted
    copy = tmp_path / f"checkpoint-{step}"
    shutil.copytree(source / f"checkpoint-{step}", copy)
    (copy / "rng_state.pth").rename(copy / "rng_state_0.pth")  # as rank 0 of 2 writes it; rank 1 was killed
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert checkpoint_problem(copy) == "rng_state_1.pth is missing: rank 1's save did not finish"
    shutil.copy(copy / "rng_state_0.pth", copy / "rng_state_1.pth")
    assert checkpoint_problem(copy) is None
    # A one-process checkpoint (rng_state.pth) resumed on 2 ranks is not refused for it.
    (copy / "rng_state_1.pth").rename(copy / "rng_state.pth")
    (copy / "rng_state_0.pth").unlink()
    assert checkpoint_problem(copy) is None


def test_a_checkpoint_whose_state_is_for_another_step_is_skipped(interrupted, tmp_path):
    from scripts.lib.runs.resume import checkpoint_problem

    source, _, _, step = interrupted
    copy = tmp_path / "checkpoint-5"
    shutil.copytree(source / f"checkpoint-{step}", copy)
    assert checkpoint_problem(copy) == "trainer_state.json does not describe step 5"


def test_graceful_stop_turns_a_signal_into_save_and_stop_then_restores_the_handler():
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from scripts.lib.runs.stopping import GracefulStop

    stop = GracefulStop()
    before = signal.getsignal(signal.SIGTERM)
    control = TrainerControl()
    args = TrainingArguments(output_dir="unused", use_cpu=True, report_to=[])
    with stop.installed():
        stop.on_step_end(args, TrainerState(), control)
        assert not control.should_save and not control.should_training_stop  # no signal yet
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # the handler runs between bytecodes of the main thread
        stop.on_step_end(args, TrainerState(), control)
    assert (stop.signum, stop.exit_code) == (signal.SIGTERM, 143)
    assert control.should_save and control.should_training_stop
    assert signal.getsignal(signal.SIGTERM) is before


def test_resume_command_keeps_the_flags_and_replaces_any_resume_setting():
    from scripts.lib.runs.resume import resume_command

    argv = ["--config", "r.yaml", "--resume", "never", "--max_steps", "9", "--resume_from_checkpoint=x"]
    assert resume_command(argv, "out/checkpoint-4") == (
        "python -m scripts.train --config r.yaml --max_steps 9 --resume out/checkpoint-4")
    assert resume_command(["--output_dir", "my run"], "my run/checkpoint-2") == (
        "python -m scripts.train --output_dir 'my run' --resume 'my run/checkpoint-2'")


def test_resume_auto_starts_fresh_next_to_logs_of_a_run_that_never_saved(tmp_path, capsys):
    from scripts.lib.runs.resume import resolve_resume

    assert resolve_resume("auto", str(tmp_path / "missing")) is None
    (tmp_path / "runs").mkdir()
    (tmp_path / "checkpoint-3").mkdir()  # a save killed before any file was written
    assert resolve_resume("auto", str(tmp_path)) is None
    assert "skipping incomplete checkpoint" in capsys.readouterr().err


@pytest.mark.slow
def test_interrupted_and_resumed_run_ends_exactly_where_an_uninterrupted_run_does(resumed, straight, tiny_model_dir):
    """Model, optimizer, scheduler, RNG and data order all restored: the same weights, bit for bit."""
    from safetensors.torch import load_file

    out, _, _ = resumed
    straight = straight[0]
    assert trainer_state(straight / f"checkpoint-{MAX_STEPS}")["global_step"] == MAX_STEPS
    a, b = load_file(out / "model.safetensors"), load_file(straight / "model.safetensors")
    assert a.keys() == b.keys()
    assert all((a[k] == b[k]).all() for k in a)
    rewards = [e["reward"] for e in trainer_state(straight / f"checkpoint-{MAX_STEPS}")["log_history"] if "reward" in e]
    resumed_rewards = [e["reward"] for e in trainer_state(out / f"checkpoint-{MAX_STEPS}")["log_history"]
                       if "reward" in e]
    assert resumed_rewards == rewards
    untrained = load_file(Path(tiny_model_dir) / "model.safetensors")
    assert any((a[k] != untrained[k]).any() for k in a), "the weights never moved: the comparison proves nothing"


def test_only_a_tied_missing_key_goes_unreported(tiny_model_dir):
    """A tied head is the embedding's tensor: not missing. A key with no loaded twin is still reported, in the
    Trainer's own words, and so are unexpected keys."""
    from types import SimpleNamespace

    from transformers import AutoConfig, AutoModelForCausalLM

    from scripts.lib.runs.resume import report_only_untied_missing_keys, untied_missing_keys

    tied = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert untied_missing_keys(tied, ["lm_head.weight"]) == []
    assert untied_missing_keys(tied, ["lm_head.weight", "model.norm.weight"]) == ["model.norm.weight"]
    assert untied_missing_keys(tied, ["lm_head.weight", "model.embed_tokens.weight"]) == [
        "lm_head.weight", "model.embed_tokens.weight"]  # both names of the tensor missing: nothing loaded it
    untied = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(tiny_model_dir, tie_word_embeddings=False))
    assert untied_missing_keys(untied, ["lm_head.weight"]) == ["lm_head.weight"]

    heard = []
    trainer = SimpleNamespace(model=tied, _issue_warnings_after_load=heard.append)
    report_only_untied_missing_keys(trainer)
    trainer._issue_warnings_after_load(SimpleNamespace(missing_keys=["lm_head.weight", "extra.bias"],
                                                       unexpected_keys=["old.weight"]))
    assert [(r.missing_keys, r.unexpected_keys) for r in heard] == [(["extra.bias"], ["old.weight"])]
