"""`make checkpoints`, `make export`, `make plot` on the shared 3-step run (``tracked_run`` in conftest.py)."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from scripts import checkpoints, export, plot
from scripts.lib.runs.checkpoint_table import checkpoint_table
from scripts.lib.models.loading import load_tokenizer


def state_entry(run: Path, step: int) -> dict:
    """The training log at ``step`` in that checkpoint's own trainer_state.json."""
    history = json.loads((run / f"checkpoint-{step}" / "trainer_state.json").read_text())["log_history"]
    (entry,) = [e for e in history if e.get("step") == step and "reward" in e]
    return entry


EXPECTED_KEYS = {"reward": "reward", "accuracy": "aha/accuracy", "format": "aha/format",
                 "mean_length": "aha/length_mean", "reflection": "aha/self_check_share"}


# ---------------------------------------------------------------------------- checkpoints


def test_checkpoints_lists_every_checkpoint_with_its_logged_numbers(tracked_run):
    run, _ = tracked_run
    table = checkpoint_table(run)
    assert [r["checkpoint"] for r in table["rows"]] == ["checkpoint-1", "checkpoint-2", "checkpoint-3"]
    for row in table["rows"]:
        entry = state_entry(run, row["step"])
        assert row["logged_step"] == row["step"]
        assert row["metrics"] == {column: entry[key] for column, key in EXPECTED_KEYS.items()}
        assert row["recent_accuracy"] == entry["aha/accuracy"]  # aha_smoothing 1 in this run: the last log alone
    accuracy = {r["checkpoint"]: r["metrics"]["accuracy"] for r in table["rows"]}
    best = max(accuracy.values())
    assert table["best"] == [name for name, value in accuracy.items() if value == best][-1]  # ties: the later one
    assert table["aha"].step == 2 and table["aha"].confirmed_at == 3


def test_checkpoints_command_prints_the_markdown_table(tracked_run):
    run, _ = tracked_run
    proc = subprocess.run([sys.executable, "-m", "scripts.checkpoints", str(run)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert ("| checkpoint | step | reward | accuracy | format | mean length | self-check share "
            "| accuracy, last 1 logs |  |") in lines
    best = checkpoint_table(run)["best"]
    for step in (1, 2, 3):
        e = state_entry(run, step)
        notes = ", ".join(n for n, on in (("**best accuracy**", best == f"checkpoint-{step}"),
                                          ("first after the aha step", step == 2)) if on)
        row = (f"| checkpoint-{step} | {step} | {e['reward']:.3f} | {e['aha/accuracy']:.3f} | {e['aha/format']:.3f} "
               f"| {e['aha/length_mean']:.1f} | {e['aha/self_check_share']:.3f} | {e['aha/accuracy']:.3f} | {notes} |")
        assert row in lines, f"{row!r} not in\n{proc.stdout}"
    assert any(line.startswith("aha step 2 (heuristic, confirmed at step 3") for line in lines)
    assert f"keep one: make export CKPT={run}/{best} OUT=<folder>" in lines


def test_best_checkpoint_is_chosen_by_accuracy_averaged_over_the_smoothing_window(tmp_path):
    # one lucky batch (step 20: 0.9) must not win over a checkpoint whose last 3 logs are all good
    accuracy = [0.1, 0.1, 0.1, 0.1, 0.9, 0.1, 0.4, 0.5, 0.6]      # steps 4, 8, ..., 36
    history = [{"step": 4 * (i + 1), "reward": a, "aha/accuracy": a, "aha/self_check_share": 0.0}
               for i, a in enumerate(accuracy)]
    for step in (20, 36):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text(
            json.dumps({"global_step": step, "log_history": [e for e in history if e["step"] <= step]}))
    (tmp_path / "run_info.json").write_text(json.dumps({"task": "countdown", "tracker": {"aha": {
        "baseline_steps": 2, "reflection_margin": 0.1, "accuracy_margin": 0.1, "window": 2, "smoothing": 3}}}))
    table = checkpoint_table(tmp_path)
    recent = {r["checkpoint"]: r["recent_accuracy"] for r in table["rows"]}
    assert recent == pytest.approx({"checkpoint-20": (0.1 + 0.1 + 0.9) / 3, "checkpoint-36": (0.4 + 0.5 + 0.6) / 3})
    assert table["best"] == "checkpoint-36"
    assert table["aha"] is None  # accuracy rose, the self-check share never did


def test_checkpoints_json_is_the_same_table(tracked_run, capsys):
    run, _ = tracked_run
    assert checkpoints.main([str(run), "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [r["step"] for r in payload["rows"]] == [1, 2, 3]
    assert payload["aha"]["step"] == 2 and payload["aha_settings"]["window"] == 2


def test_an_incomplete_checkpoint_is_listed_as_such(tracked_run, tmp_path):
    import shutil

    run, _ = tracked_run
    copy = tmp_path / "run"
    shutil.copytree(run / "checkpoint-1", copy / "checkpoint-1")
    (copy / "checkpoint-7").mkdir()  # killed while saving: no trainer_state.json
    table = checkpoints.render_markdown(checkpoint_table(copy))
    assert "| checkpoint-7 | 7 | – | – | – | – | – | – | incomplete (no trainer_state.json) |" in table


@pytest.mark.parametrize("make_run, message", [
    (lambda tmp: tmp / "nope", "error: run folder not found: {run}"),
    (lambda tmp: tmp, "error: no checkpoint-N folders in {run}"),
])
def test_checkpoints_bad_run_is_one_line_exit_2(tmp_path, capsys, make_run, message):
    run = make_run(tmp_path)
    assert checkpoints.run([str(run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message.format(run=run)) and err.count("\n") == 1


def test_malformed_trainer_state_is_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "checkpoint-5").mkdir()
    (tmp_path / "checkpoint-5" / "trainer_state.json").write_text('{"log_history": [')
    assert checkpoints.run([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "checkpoint-5/trainer_state.json is not valid JSON" in err and err.count("\n") == 1


# ---------------------------------------------------------------------------- export


@pytest.fixture(scope="module")
def exported(tracked_run, tmp_path_factory):
    run, _ = tracked_run
    out = tmp_path_factory.mktemp("export") / "model"
    assert export.main([str(run / "checkpoint-2"), str(out)]) == 0
    return run, out


def test_exported_folder_is_a_clean_hf_model_that_loads_and_generates(exported, tracked_run):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    run, out = exported
    # run_info.json travels with the export so that make eval scores it with its run's settings
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "generation_config.json",
                                                     "model.safetensors", "run_info.json", "tokenizer.json",
                                                     "tokenizer_config.json"]
    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = load_tokenizer(str(out))
    weights = load_file(run / "checkpoint-2" / "model.safetensors")
    for name, tensor in model.state_dict().items():
        if name in weights:
            assert torch.equal(tensor, weights[name]), name
    enc = tokenizer(["User: numbers 3 2 3 target 18 . Assistant:"], return_tensors="pt")
    generated = model.generate(**enc, max_new_tokens=5, min_new_tokens=5)
    assert generated.shape[1] == enc["input_ids"].shape[1] + 5
    # sampling as the run's GRPO did (temperature 1, no top-k/top-p cut), at most max_completion_length
    config = json.loads((out / "generation_config.json").read_text())
    assert {k: config[k] for k in ("do_sample", "temperature", "top_k", "top_p", "max_new_tokens")} == \
        {"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 1.0, "max_new_tokens": 12}
    assert config["eos_token_id"] == tokenizer.eos_token_id


def test_model_card_names_recipe_step_and_metrics(exported):
    run, out = exported
    card = (out / "README.md").read_text()
    e = state_entry(run, 2)
    assert card.startswith("---\nlibrary_name: transformers\n")
    assert "- recipe: `" + str(ROOT / "recipes" / "cpu_countdown_tiny.yaml") + "`" in card
    assert "- step: 2 of 3" in card
    assert "- task: countdown; rewards: `format_reward` x 0.5, `countdown_reward` x 1.0" in card
    assert (f"| {e['reward']:.3f} | {e['aha/accuracy']:.3f} | {e['aha/format']:.3f} | {e['aha/length_mean']:.1f} "
            f"| {e['aha/self_check_share']:.3f} |") in card
    assert "aha step 2 (heuristic" in card and "this checkpoint is at or after it" in card
    # plain standard loading (tests/test_export_loading.py checks these lines read it as training did)
    assert f"tokenizer = AutoTokenizer.from_pretrained({str(out)!r})" in card
    assert f"generator = pipeline(\"text-generation\", model={str(out)!r})" in card


def test_eval_on_an_export_takes_the_settings_of_the_run_that_wrote_it(exported):
    from scripts.lib.evaluation.eval_settings import make_plan, parse_args

    run, out = exported
    plan = make_plan(parse_args(["--models", str(out), "--limit", "2"]))
    # the tracked run trains with --max_completion_length 12 and --holdout_size 0 (fresh problems)
    assert plan.recorded.startswith(str(out)) and plan.max_new_tokens == 12 and plan.task == "countdown"
    assert plan.rows[0]["prompt"].startswith("User: numbers ")


def test_export_merges_lora_adapters(tiny_model_dir, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    torch.manual_seed(0)
    # init_lora_weights=False: random B, so the adapter really changes the outputs
    peft_model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    ckpt = tmp_path / "run" / "checkpoint-5"
    peft_model.save_pretrained(ckpt)
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.no_grad():
        expected = peft_model(ids).logits
        plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir)(ids).logits
    assert not torch.allclose(expected, plain, atol=1e-4)

    out = tmp_path / "merged"
    assert export.main([str(ckpt), str(out)]) == 0
    assert not (out / "adapter_config.json").exists() and (out / "model.safetensors").is_file()
    merged = AutoModelForCausalLM.from_pretrained(out)
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, expected, atol=1e-5)
    assert "(LoRA adapters merged into it)" in (out / "README.md").read_text()


@pytest.mark.parametrize("case, message", [
    ("missing", "error: checkpoint folder not found: {ckpt}"),
    ("empty", "error: {ckpt} holds no model (no config.json or adapter_config.json)"),
    ("out_taken", "error: output folder exists and is not empty: {out}"),
])
def test_export_bad_input_is_one_line_exit_2(tracked_run, tmp_path, capsys, case, message):
    run, _ = tracked_run
    ckpt, out = run / "checkpoint-1", tmp_path / "out"
    if case == "missing":
        ckpt = tmp_path / "checkpoint-9"
    elif case == "empty":
        ckpt = tmp_path / "checkpoint-9"
        ckpt.mkdir()
    else:
        out.mkdir()
        (out / "keep.txt").write_text("user data")
    assert export.run([str(ckpt), str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message.format(ckpt=ckpt, out=out)) and err.count("\n") == 1
    if case == "out_taken":
        assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


# ---------------------------------------------------------------------------- plot


def test_plot_writes_a_png_next_to_the_run(tracked_run):
    run, _ = tracked_run
    out = plot.plot_run(run)
    assert out == run / "aha_curves.png"
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (plot.FIGSIZE[0] * plot.DPI, plot.FIGSIZE[1] * plot.DPI)
    assert len(data) > 20_000  # five panels of curves, not an empty canvas
    assert data.endswith(b"IEND\xaeB`\x82")


def test_plot_of_a_missing_run_is_one_line_exit_2(tmp_path, capsys):
    assert plot.run([str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: run folder not found") and err.count("\n") == 1


def test_model_card_says_what_export_compared(tracked_run, tmp_path, monkeypatch):
    """The card's "Use" line is what export checked: the old card claimed greedy completions it never compared."""
    from scripts.lib.models import hf_export

    calls = []
    real = hf_export.loading_mismatch

    def spy(folder, texts, *args, generate=0, **kwargs):
        calls.append((len(texts), generate))
        return real(folder, texts, *args, generate=generate, **kwargs)

    monkeypatch.setattr(hf_export, "loading_mismatch", spy)
    run, _ = tracked_run
    assert export.main([str(run / "checkpoint-3"), str(tmp_path / "model")]) == 0
    (texts, generate), = calls
    use = (tmp_path / "model" / "README.md").read_text().split("## Use", 1)[1]
    assert hf_export.checked_line(texts, generate, llama=True) in use  # the kit's word-level tokenizer: Llama form
    assert ("greedy completions" in use) == (generate > 0)
