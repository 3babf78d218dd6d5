"""`make eval` (scripts/evaluate.py): pass@k, scoring with injected generate functions, the tiny model."""

from __future__ import annotations

import itertools
import json
import math
import re
import subprocess

import pytest

from conftest import FIXTURES, ROOT
from scripts import evaluate
from scripts.lib.evaluation import eval_settings
from scripts.lib.models import loading as models
from scripts.lib.evaluation.pass_at_k import pass_at_k

GSM8K = FIXTURES / "gsm8k_tiny.jsonl"


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """A ~1 M-parameter model on shared cores: one thread is ~8x faster than two fighting for them."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def brute_force_pass_at_k(n: int, c: int, k: int) -> float:
    """Share of the k-subsets of n samples (the first c correct) holding at least one correct one."""
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(i < c for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (5, 0, 1, 0.0),              # nothing correct: never passes
        (10, 3, 1, 0.3),             # k = 1 is the plain success rate c / n
        (4, 1, 2, 0.5),              # 1 - C(3,2)/C(4,2) = 1 - 3/6
        (10, 2, 3, 1 - 56 / 120),    # 1 - C(8,3)/C(10,3)
        (8, 7, 2, 1.0),              # only one wrong sample: any 2 include a correct one
        (6, 6, 6, 1.0),              # all correct
    ],
)
def test_pass_at_k_matches_the_closed_form(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)
    assert pass_at_k(n, c, k) == pytest.approx(brute_force_pass_at_k(n, c, k), abs=1e-12)


def test_pass_at_k_rejects_k_above_n():
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 5)


def fixture_golds() -> dict[str, str]:
    """question -> gold, read straight from the fixture (not through the code under test)."""
    golds = {}
    for line in GSM8K.read_text().splitlines():
        row = json.loads(line)
        match = re.search(r"####\s*(.+)$", row["answer"])
        if match:
            golds[row["question"]] = match.group(1).replace(",", "")
    return golds


def stub(write):
    """A generate function that answers each prompt with ``write(gold)``, like a model that knows it."""
    golds = fixture_golds()

    def generate(prompts, samples_per_prompt=1, greedy=False):
        texts = []
        for prompt in prompts:
            gold = next(g for q, g in golds.items() if q in prompt)
            texts += [write(gold)] * samples_per_prompt
        return texts, [len(t.split()) for t in texts]

    return generate


STUBS = {
    "always-right": stub(lambda gold: f"<think> I add it up. </think> <answer> {gold} </answer>"),
    "no-tags": stub(lambda gold: f"I add it up. The answer is {gold}."),
    "tags-wrong": stub(lambda gold: f"<think> hmm </think> <answer> {int(gold) + 1} </answer>"),
}


@pytest.fixture(scope="module")
def stub_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "stubs.json"
    code = evaluate.main(["--models", *STUBS, "--task", "gsm8k", "--dataset_name", str(GSM8K),
                          "--num_samples", "4", "--pass_k", "1", "2", "4", "--output_file", str(out)],
                         generators=STUBS.__getitem__)
    assert code == 0
    return {m["model"]: m for m in json.loads(out.read_text())["models"]}


def test_a_model_that_always_writes_the_right_answer_scores_one(stub_results):
    metrics = stub_results["always-right"]["metrics"]
    assert metrics["greedy"]["pass@1"] == 1.0 and metrics["greedy"]["format"] == 1.0
    assert metrics["sampled"]["pass@1"] == 1.0 and metrics["sampled"]["pass@4"] == 1.0
    assert metrics["sampled"]["format"] == 1.0


def test_a_model_that_never_uses_the_tags_scores_zero_format(stub_results):
    metrics = stub_results["no-tags"]["metrics"]
    assert metrics["greedy"]["format"] == 0.0 and metrics["sampled"]["format"] == 0.0
    # The right number outside <answer> is not an answer (gsm8k_fallback_last_number is off).
    assert metrics["greedy"]["pass@1"] == 0.0 and metrics["sampled"]["pass@4"] == 0.0


def test_well_formatted_wrong_answers_score_format_one_and_accuracy_zero(stub_results):
    metrics = stub_results["tags-wrong"]["metrics"]
    assert metrics["greedy"]["format"] == 1.0 and metrics["greedy"]["pass@1"] == 0.0


def test_json_has_one_record_per_problem_with_its_samples(stub_results):
    golds = fixture_golds()  # 4 rows with a '####' answer; the 5th has none and is skipped
    for name, result in stub_results.items():
        records = result["records"]
        assert len(records) == len(golds) == result["metrics"]["n"] == 4, name
        assert [r["gold"]["solution"] for r in records] == list(golds.values())
        for record in records:
            assert set(record) >= {"prompt", "completion", "correct", "format", "length", "samples"}
            assert len(record["samples"]) == 4
    right = stub_results["always-right"]["records"][0]
    assert right["correct"] is True and right["n_correct"] == 4 and right["pass@2"] == 1.0
    assert stub_results["no-tags"]["records"][0]["correct"] is False


def test_pass_at_k_is_averaged_over_problems(tmp_path):
    """Problem i gets i of 4 samples right: pass@1 = mean(i/4), pass@2 = mean(1 - C(4-i,2)/C(4,2))."""
    golds = list(fixture_golds().values())

    def generate(prompts, samples_per_prompt=1, greedy=False):
        texts = []
        for i, prompt in enumerate(prompts):
            gold = next(g for q, g in fixture_golds().items() if q in prompt)
            right = 1 if greedy else i
            texts += [f"<think> t </think> <answer> {gold if j < right else 'x'} </answer>"
                      for j in range(samples_per_prompt)]
        return texts, [3] * len(texts)

    out = tmp_path / "graded.json"
    assert evaluate.main(["--models", "graded", "--task", "gsm8k", "--dataset_name", str(GSM8K), "--num_samples", "4",
                          "--pass_k", "1", "2", "--output_file", str(out)], generators=lambda name: generate) == 0
    metrics = json.loads(out.read_text())["models"][0]["metrics"]
    counts = range(len(golds))  # 0, 1, 2, 3 correct of 4
    assert metrics["sampled"]["pass@1"] == pytest.approx(sum(c / 4 for c in counts) / 4)
    assert metrics["sampled"]["pass@2"] == pytest.approx(
        sum(1 - math.comb(4 - c, 2) / math.comb(4, 2) for c in counts) / 4)
    assert metrics["greedy"]["pass@1"] == 1.0 and metrics["sampled"]["mean_length"] == 3.0


def test_pass_at_k_defaults_to_one_and_the_number_of_samples(tmp_path):
    out = tmp_path / "default_k.json"
    assert evaluate.main(["--models", "always-right", "--task", "gsm8k", "--dataset_name", str(GSM8K),
                          "--num_samples", "3", "--output_file", str(out)], generators=STUBS.__getitem__) == 0
    sampled = json.loads(out.read_text())["models"][0]["metrics"]["sampled"]
    assert [key for key in sampled if key.startswith("pass@")] == ["pass@1", "pass@3"]


def test_table_has_one_column_per_model_and_the_numbers(stub_results, capsys):
    from scripts.lib.evaluation.pass_at_k import comparison_table

    table = comparison_table({name: r["metrics"] for name, r in stub_results.items()}, "gsm8k", "T=1")
    lines = table.splitlines()
    assert lines[0] == "| gsm8k problems (n=4) | always-right | no-tags | tags-wrong |"
    assert "| pass@1, greedy | 1.000 | 0.000 | 0.000 |" in lines
    assert "| format rate, T=1 | 1.000 | 0.000 | 1.000 |" in lines
    assert "| pass@4, T=1 | 1.000 | 0.000 | 0.000 |" in lines


# --------------------------------------------------------------------------- the tiny real model


def countdown_file(tmp_path):
    path = tmp_path / "countdown.jsonl"
    rows = [{"nums": [3, 2, 3], "target": 18}, {"nums": [4, 5, 6], "target": 26},
            {"nums": [7, 1, 2], "target": 15}, {"nums": [9, 9, 1], "target": 80}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_tiny(model, data, out, *extra):
    argv = ["--models", str(model), "--task", "countdown", "--dataset_name", str(data), "--prompt_template",
            "compact", "--num_samples", "2", "--pass_k", "1", "2", "--max_new_tokens", "8", "--no_progress",
            "--output_file", str(out), *extra]
    assert evaluate.main(argv) == 0
    return json.loads(out.read_text())["models"]


def test_numbers_and_completions_are_reproducible_with_a_fixed_seed(tiny_model_dir, tmp_path):
    data = countdown_file(tmp_path)
    first = run_tiny(tiny_model_dir, data, tmp_path / "a.json", "--seed", "3")[0]
    again = run_tiny(tiny_model_dir, data, tmp_path / "b.json", "--seed", "3")[0]
    other = run_tiny(tiny_model_dir, data, tmp_path / "c.json", "--seed", "4")[0]
    assert first["metrics"] == again["metrics"] and first["records"] == again["records"]
    assert len(first["records"]) == 4 and first["kind"] == "folder"

    def samples(result):
        return [s["completion"] for r in result["records"] for s in r["samples"]]

    # The seed drives sampling (an untrained model at T=1 writes different text), not greedy decoding.
    assert samples(first) != samples(other)
    assert [r["completion"] for r in first["records"]] == [r["completion"] for r in other["records"]]


def test_a_lora_adapter_dir_is_loaded_on_its_base(tiny_model_dir, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    adapter = tmp_path / "adapter"
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    # Random A and B (not TRL's B = 0 start): an evaluation that dropped the adapter's weights would
    # write the base model's greedy text.
    torch.manual_seed(0)
    get_peft_model(base, LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj", "o_proj"],
                                    init_lora_weights=False)).save_pretrained(adapter)
    assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tiny_model_dir)
    data = countdown_file(tmp_path)
    results = run_tiny(tiny_model_dir, data, tmp_path / "lora.json", "--models", str(tiny_model_dir), str(adapter),
                       "--num_samples", "0")
    assert [r["kind"] for r in results] == ["folder", "adapter"]
    assert [r["completion"] for r in results[0]["records"]] != [r["completion"] for r in results[1]["records"]]


def test_model_kinds(tmp_path):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text("{}")
    (tmp_path / "ckpt" / "trainer_state.json").write_text("{}")
    (tmp_path / "empty").mkdir()
    assert models.model_kind(str(tmp_path / "ckpt")) == "checkpoint"
    assert models.model_kind("Qwen/Qwen2.5-0.5B") == "hub"
    with pytest.raises(models.ModelError, match="no config.json or adapter_config.json"):
        models.model_kind(str(tmp_path / "empty"))


# --------------------------------------------------------------------------- during training


def test_the_in_training_hook_logs_the_same_numbers_and_leaves_the_random_stream_alone(tiny_model_dir, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, TrainerState

    from data.countdown import countdown_to_r1_zero
    from scripts.lib.evaluation.before_after import HeldOutEvalCallback
    from scripts.lib.models.loading import load_tokenizer

    rows, _ = countdown_to_r1_zero([json.loads(line) for line in countdown_file(tmp_path).read_text().splitlines()],
                                   template="compact")
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    hook = HeldOutEvalCallback(rows, "countdown", every=2, tokenizer=load_tokenizer(str(tiny_model_dir)),
                               max_new_tokens=8, seed=3, num_samples=2, output_dir=str(tmp_path))
    state = TrainerState()
    torch.manual_seed(0)
    for step in (1, 2, 3, 4):
        state.global_step = step
        hook.on_step_end(None, state, None, model=model)
    after_hook = torch.rand(3)
    torch.manual_seed(0)
    assert torch.equal(after_hook, torch.rand(3))  # training's own sampling is not disturbed

    history = [json.loads(line) for line in (tmp_path / "eval_history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history] == [2, 4]
    cli = run_tiny(tiny_model_dir, countdown_file(tmp_path), tmp_path / "cli.json", "--seed", "3")[0]["metrics"]
    assert history[0]["eval/pass@1_greedy"] == cli["greedy"]["pass@1"]
    assert history[0]["eval/format"] == cli["sampled"]["format"]
    assert history[0]["eval/mean_length"] == cli["sampled"]["mean_length"]
    assert history[0]["eval/pass@2"] == cli["sampled"]["pass@2"]


@pytest.mark.slow
def test_training_with_holdout_eval_steps_logs_eval_curves_to_tensorboard(tiny_model_dir, tmp_path, run_env):
    from tb import read_events
    from test_train import quick_run_args

    from conftest import train_command

    out = tmp_path / "run"
    proc = subprocess.run(train_command(*quick_run_args(tiny_model_dir, out, "--holdout_eval_steps", "1",
                                                        "--holdout_eval_samples", "2")),
                          cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    scalars = read_events(out)["scalars"]
    for tag in ["eval/pass@1_greedy", "eval/format_greedy", "eval/pass@1", "eval/pass@2", "eval/format",
                "eval/mean_length", "eval/self_check"]:
        assert len(scalars.get(tag, [])) == 2, f"{tag} missing; have {sorted(scalars)}"
    assert "held-out eval at step 2:" in proc.stdout


def test_holdout_eval_steps_without_held_out_prompts_is_a_one_line_recipe_error(tmp_path, capsys):
    from scripts.train import run

    code = run(["--config", str(ROOT / "recipes" / "cpu_countdown_tiny.yaml"), "--holdout_size", "0",
                "--holdout_eval_steps", "10"])
    assert code == 2
    assert capsys.readouterr().err == "error: holdout_eval_steps needs held-out prompts: set holdout_size (e.g. 64)\n"


# --------------------------------------------------------------------------- held-out problems


def test_countdown_held_out_set_is_the_one_training_held_out(tmp_path):
    """With the default recipe: the same problems (and prompts) train.py holds out, none in its training set."""
    from data.countdown import countdown_key
    from scripts.lib.recipe.parsing import parse_recipe

    recipe = str(ROOT / "recipes" / "cpu_countdown_tiny.yaml")
    args = eval_settings.parse_args(["--models", "m", "--recipe", recipe, "--num_samples", "0"])
    plan = eval_settings.make_plan(args)
    s, t, _ = parse_recipe(["--config", recipe])
    train, holdout, _ = s.build_dataset(t.seed)  # what scripts/train.py calls
    assert plan.rows == holdout and len(plan.rows) == s.holdout_size
    assert not {countdown_key(r["nums"], r["target"]) for r in plan.rows} & \
        {countdown_key(r["nums"], r["target"]) for r in train}
    assert (plan.temperature, plan.top_k, plan.max_new_tokens, plan.seed) == \
        (t.temperature, t.top_k, t.max_completion_length, t.seed)


def test_a_recipe_with_no_holdout_gets_fresh_problems_outside_its_training_set(tmp_path):
    from data.countdown import countdown_key
    from scripts.lib.recipe.parsing import parse_recipe

    text = (ROOT / "recipes" / "cpu_countdown_tiny.yaml").read_text()
    text = re.sub(r"(?m)^holdout_size:.*$", "holdout_size: 0", text)
    text = re.sub(r"(?m)^max_train_samples:.*$", "max_train_samples: 3000", text)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(text)
    plan = eval_settings.make_plan(eval_settings.parse_args(
        ["--models", "m", "--recipe", str(recipe), "--countdown_problems", "50"]))
    s, t, _ = parse_recipe(["--config", str(recipe)])
    train, _, _ = s.build_dataset(t.seed)
    assert len(train) == 3000
    keys = {countdown_key(r["nums"], r["target"]) for r in plan.rows}
    assert len(plan.rows) == 50 and not keys & {countdown_key(r["nums"], r["target"]) for r in train}


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--models", "/no/such/model/dir"], "error: model folder not found: /no/such/model/dir"),
        (["--models", "m", "--task", "chess"], "error: unknown task `chess`: use a task ['arithmetic', 'countdown', 'gsm8k', 'math'] or a benchmark"),
        (["--models", "m", "--limt", "3"], "error: unknown flag `--limt` (did you mean `--limit`?)"),
        (["--models", "m", "--num_samples", "2", "--pass_k", "4"], "error: --pass_k [4]: each k must be between"),
        (["--models", "m", "--task", "gsm8k", "--dataset_name", "/no/such.jsonl"],
         "error: dataset file not found: /no/such.jsonl"),
        ([], "error: no models given"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(argv, message, capsys):
    assert evaluate.run(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err


def test_make_eval_with_vllm_on_several_processes_stops_with_one_line(monkeypatch, capsys):
    # vLLM spreads one model over the GPUs itself: several launched processes would each start an engine.
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    find_spec = eval_settings.importlib.util.find_spec  # as on a GPU machine with vLLM installed
    monkeypatch.setattr(eval_settings.importlib.util, "find_spec",
                        lambda name, *a: object() if name == "vllm" else find_spec(name, *a))
    code = evaluate.run(["--models", "always-right", "--task", "gsm8k", "--dataset_name", str(GSM8K),
                         "--use_vllm"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--use_vllm runs on one process" in err[0], err
