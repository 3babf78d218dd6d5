"""`make eval`'s revision rows, reflection@k, audit verdict line, and a checkpoint's recorded settings."""

from __future__ import annotations

import json

import pytest

from conftest import FIXTURES, ROOT
from scripts import evaluate
from scripts.lib.evaluation.eval_settings import make_plan, parse_args

GSM8K = FIXTURES / "gsm8k_tiny.jsonl"


def countdown_file(tmp_path):
    path = tmp_path / "countdown.jsonl"
    rows = [{"nums": [3, 6], "target": 18}, {"nums": [4, 5], "target": 20}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# Per sample, for each problem (a, b, target = a * b): what the crafted completions do.
SEARCH = "<think> {a} + {b} = {s} vs {t} wait recheck ; {a} * {b} = {t} vs {t} ok </think> <answer> {a} * {b} </answer>"
GUESS = "<think> {a} + {b} = {s} </think> <answer> {a} + {b} </answer>"
RIGHT = "<think> {a} * {b} = {t} vs {t} ok </think> <answer> {a} * {b} </answer>"
LOST = "<think> {a} * {b} = {t} vs {t} ok </think> <answer> {a} + {b} </answer>"


def countdown_stub(prompts, samples_per_prompt=1, greedy=False):
    texts = []
    for prompt in prompts:
        a, b = (3, 6) if "18" in prompt else (4, 5)
        kinds = [RIGHT] if greedy else [SEARCH, GUESS, RIGHT, LOST]
        texts += [kinds[j % len(kinds)].format(a=a, b=b, s=a + b, t=a * b) for j in range(samples_per_prompt)]
    return texts, [len(t.split()) for t in texts]


def test_countdown_revision_rows_reflection_at_k_and_verdict(tmp_path, capsys):
    out = tmp_path / "cd.json"
    argv = ["--models", "crafted", "--task", "countdown", "--dataset_name", str(countdown_file(tmp_path)),
            "--prompt_template", "compact", "--num_samples", "4", "--pass_k", "1", "4"]
    assert evaluate.main([*argv, "--output_file", str(out)], generators=lambda name: countdown_stub) == 0
    sampled = json.loads(out.read_text())["models"][0]["metrics"]["sampled"]
    # Per problem of 4 samples: SEARCH (goes back, first try wrong, right), GUESS (wrong), RIGHT, LOST
    # (first try right, answer wrong). The recipe-less default phrase list has "recheck" and "wait".
    assert sampled["self_check"] == 0.25 and sampled["reflection@1"] == 0.25 and sampled["reflection@4"] == 1.0
    assert sampled["accuracy_self_checking"] == 1.0 and sampled["accuracy_rest"] == pytest.approx(1 / 3)
    assert sampled["tries_mean"] == 1.25 and sampled["first_try_accuracy"] == 0.5
    assert sampled["wrong_to_right"] == 0.25 and sampled["right_to_wrong"] == 0.25
    assert sampled["hit_in_think"] == 0.75 and sampled["honest_checks"] == 1.0
    printed = capsys.readouterr().out
    assert "| reflection@4, T=1, 4 samples | 1.000 |" in printed
    assert "| wrong->right rate, T=1, 4 samples | 0.250 |" in printed
    assert "crafted: reflection audit (sampled, 8 completions): reflection absent: 2 of 8 completions" in printed
    assert "keyword-based only" not in printed


def test_free_text_gets_keyword_rows_only_and_says_so(tmp_path, capsys):
    def generate(prompts, samples_per_prompt=1, greedy=False):
        texts = ["<think> 1 + 1 = 2. Let me check: yes. </think> <answer> 0 </answer>"] * (len(prompts) * samples_per_prompt)
        return texts, [5] * len(texts)

    out = tmp_path / "g.json"
    assert evaluate.main(["--models", "m", "--task", "gsm8k", "--dataset_name", str(GSM8K), "--num_samples", "4",
                          "--output_file", str(out)], generators=lambda name: generate) == 0
    sampled = json.loads(out.read_text())["models"][0]["metrics"]["sampled"]
    assert sampled["self_check"] == 1.0 and "tries_mean" not in sampled and "wrong_to_right" not in sampled
    printed = capsys.readouterr().out
    assert "gsm8k: reflection rows are keyword-based only (phrases: " in printed
    # every completion checks itself and is wrong: present, and nothing to show it pays
    assert ("m: reflection audit (sampled, 16 completions): reflection present but does not pay: 16 of 16 completions "
            "self-check (share 1.000); accuracy 0.000 self-checking vs - the rest (z 0.00); keyword-based (free text)"
            in printed)


def fake_run(tmp_path, flags: str) -> str:
    run = tmp_path / "run"
    (run / "checkpoint-5").mkdir(parents=True)
    info = {"command": f"python -m scripts.train --config recipes/cpu_countdown_tiny.yaml {flags}", "task": "countdown"}
    (run / "run_info.json").write_text(json.dumps(info))
    return str(run / "checkpoint-5")


def test_a_checkpoint_is_scored_with_the_settings_its_run_recorded(tmp_path):
    ckpt = fake_run(tmp_path, "--seed 7 --max_completion_length 33")
    plan = make_plan(parse_args(["--models", ckpt, "--task", "countdown", "--limit", "3"]))
    assert plan.recorded.startswith(ckpt) and plan.max_new_tokens == 33 and plan.seed == 7
    # the problems this run held out (its seed 7), in its terse prompt: not the generic Countdown defaults
    assert plan.source == "generated Countdown, the 512 problems training held out (seed 7)"
    assert plan.rows[0]["prompt"].startswith("User: numbers ")
    generic = make_plan(parse_args(["--models", ckpt, "--task", "countdown", "--limit", "3",
                                    "--recorded_settings", "false"]))
    assert generic.recorded is None and generic.rows != plan.rows


def test_models_from_runs_with_different_settings_need_a_recipe(tmp_path):
    from scripts.lib.evaluation.eval_problems import EvalError

    a = fake_run(tmp_path / "a", "--seed 1")
    b = fake_run(tmp_path / "b", "--seed 2")
    with pytest.raises(EvalError, match="different settings"):
        make_plan(parse_args(["--models", a, b]))
