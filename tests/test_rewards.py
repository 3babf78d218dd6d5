"""Each reward's exact value on crafted completions; every case says why."""

from __future__ import annotations

import pickle

import pytest

from rewards import ACCURACY_REWARD_FOR_TASK, REWARDS, UnknownRewardError, get_reward, get_rewards
from rewards.accuracy_rewards import gsm8k_accuracy_reward
from rewards.countdown_rewards import countdown_reward
from rewards.format_rewards import format_reward, format_shaped_reward

OK = "<think> 3 + 4 = 7 </think> <answer> 7 </answer>"

FORMAT_CASES = [
    (OK, 1.0, "the exact shape"),
    ("  \n" + OK + "\n ", 1.0, "surrounding whitespace is trimmed"),
    ("<think>a</think><answer>7</answer>", 1.0, "no whitespace between blocks is fine"),
    ("<think>\nmulti\nline\n</think>\n<answer>\n7\n</answer>", 1.0, "newlines inside blocks"),
    (OK + " done", 0.0, "text after </answer>"),
    ("So: " + OK, 0.0, "text before <think>"),
    ("<think> a </think> <think> b </think> <answer> 7 </answer>", 0.0, "two think blocks"),
    ("<think> a </think> <answer> 7 </answer> <answer> 8 </answer>", 0.0, "two answers"),
    ("<think> a <answer> 7 </answer>", 0.0, "</think> missing"),
    ("<think> a </think> 7", 0.0, "no answer tags"),
    ("<answer> 7 </answer> <think> a </think>", 0.0, "wrong order"),
    ("", 0.0, "empty"),
]


@pytest.mark.parametrize("completion,expected,why", FORMAT_CASES)
def test_format_reward(completion, expected, why):
    assert format_reward([completion]) == [expected], why


def test_format_reward_reads_conversational_completions():
    assert format_reward([[{"role": "assistant", "content": OK}]]) == [1.0]


def test_format_reward_counts_a_prefilled_think_from_the_prompt():
    completion = " 3 + 4 = 7 </think> <answer> 7 </answer>"
    assert format_reward([completion], prompts=["Assistant: <think>"]) == [1.0]
    assert format_reward([completion], prompts=["Assistant:"]) == [0.0]
    # A completion that opens <think> again after a prefill has two of them.
    assert format_reward([OK], prompts=["Assistant: <think>"]) == [0.0]


@pytest.mark.parametrize("completion,expected", [
    (OK, 1.0), ("<think> a </think>", 0.5), ("<think> a", 0.25), ("nothing", 0.0),
    ("<think><think> a </think> <answer> 7 </answer>", 0.75),
])
def test_format_shaped_reward(completion, expected):
    assert format_shaped_reward([completion]) == [expected]


GSM8K_CASES = [
    ("<answer>18</answer>", "18", 1.0, "plain"),
    ("<answer> 18 </answer>", "18", 1.0, "spaces"),
    ("<answer>1,000</answer>", "1000", 1.0, "thousands separator"),
    ("<answer>$18</answer>", "18", 1.0, "currency"),
    ("<answer>18.0</answer>", "18", 1.0, "trailing .0"),
    ("<answer>+18</answer>", "18", 1.0, "leading +"),
    ("<answer>\\boxed{18}</answer>", "18", 1.0, "boxed"),
    ("<answer>18\\%</answer>", "18", 1.0, "LaTeX percent"),
    ("<answer>18%</answer>", "18", 1.0, "percent sign"),
    ("<answer>\\frac{3}{4}</answer>", "0.75", 1.0, "LaTeX fraction"),
    ("<answer>3/4</answer>", "0.75", 1.0, "simple fraction"),
    ("<answer>-5</answer>", "-5", 1.0, "negative"),
    ("<answer>17</answer>", "18", 0.0, "wrong number"),
    ("<answer>180</answer>", "18", 0.0, "not a prefix match"),
    ("<answer>1.8</answer>", "18", 0.0, "not a digit match"),
    ("The answer is 18", "18", 0.0, "no answer block: fallback is off by default"),
    ("<think>18</think> <answer>17</answer>", "18", 0.0, "only the answer block counts"),
    ("<answer>17</answer> <answer>18</answer>", "18", 1.0, "the last answer block counts"),
    ("<answer></answer>", "18", 0.0, "empty answer"),
    ("<answer>\\$18</answer>", "18", 1.0, "escaped currency: math-verify cannot read it, the fast path can"),
    ("<answer>$\\boxed{18}$</answer>", "18", 1.0, "boxed in math mode"),
    ("<answer>\\(18\\)</answer>", "18", 1.0, "inline math delimiters"),
    ("<answer>18.</answer>", "18", 1.0, "a sentence-ending dot"),
    ("<answer>1,000</answer>", "1,000", 1.0, "a gold with a thousands separator"),
    ("<answer>-3</answer>", "-3", 1.0, "negative gold"),
    ("<answer>3</answer>", "-3", 0.0, "sign matters"),
    ("<answer>x = 18</answer>", "18", 1.0, "math-verify reads the value of an assignment"),
    ("<answer>18 apples</answer>", "18", 1.0, "math-verify ignores a unit"),
    ("<answer>2**10</answer>", "1024", 1.0, "math-verify evaluates a small power"),
    # Decisions that look odd but are math-verify's; the reward agrees with it wherever it decides.
    ("<answer>\\boxed{18.}</answer>", "18", 0.0, "math-verify keeps \\boxed{18.} as the string '18.'"),
    ("<answer>12,34</answer>", "1234", 0.0, "not a thousands separator: math-verify reads 12.34"),
    ("<answer>0.333333</answer>", "\\frac{1}{3}", 1.0, "math-verify rounds floats to 6 places"),
    ("<answer>0.3333</answer>", "\\frac{1}{3}", 0.0, "4 places is not 1/3"),
    ("<answer>50%</answer>", "0.5", 1.0, "math-verify reads a bare % as /100"),
    ("<answer>$12.5\\%$</answer>", "12.5", 0.0, "in math mode math-verify reads 12.5\\% as 0.125"),
    # Hostile: scored 0 without asking math-verify (which would take seconds) or computing anything.
    ("<answer>9**9**9**9</answer>", "18", 0.0, "power tower"),
    ("<answer>1/0</answer>", "18", 0.0, "division by zero"),
    ("<answer>\\frac{1}{0}</answer>", "18", 0.0, "LaTeX division by zero"),
    ("<answer>" + "(" * 10_000 + "18" + ")" * 10_000 + "</answer>", "18", 0.0, "10,000-deep nesting"),
    ("<answer>١٨</answer>", "18", 0.0, "Arabic-Indic digits are not read as 18"),
]


@pytest.mark.parametrize("completion,gold,expected,why", GSM8K_CASES)
def test_gsm8k_accuracy_reward(completion, gold, expected, why):
    assert gsm8k_accuracy_reward([completion], solution=[gold]) == [expected], why


def test_gsm8k_unparsable_gold_is_skipped_not_zero():
    assert gsm8k_accuracy_reward(["<answer>18</answer>"], solution=["eighteen"]) == [None]


def test_gsm8k_fallback_to_last_number_is_opt_in():
    reward = get_reward("gsm8k_accuracy_reward", fallback_to_last_number=True)
    assert reward(["so it is 12, then 18"], solution=["18"]) == [1.0]
    assert gsm8k_accuracy_reward(["so it is 12, then 18"], solution=["18"]) == [0.0]
    assert reward(["in all 1,000, then 18, "], solution=["18"]) == [1.0], "a trailing comma is not part of 18"
    assert reward(["so 1,000 pens"], solution=["1000"]) == [1.0], "thousands separator"
    assert reward(["<answer>17</answer> 18"], solution=["18"]) == [0.0], "an answer block wins over the fallback"


COUNTDOWN_CASES = [
    ("<answer> (2 * 3) * 3 </answer>", [3, 2, 3], 18, 1.0, "right, each number once"),
    ("<answer>3*3*2</answer>", [3, 2, 3], 18, 1.0, "no spaces or parentheses"),
    ("<answer> 3 * 3 * 2 = 18 </answer>", [3, 2, 3], 18, 1.0, "trailing '= target'"),
    ("<answer> 3 * 3 * 2 = 17 </answer>", [3, 2, 3], 18, 0.0, "trailing '= wrong'"),
    ("<answer> (8 / 3) * 3 </answer>", [8, 3, 3], 8, 1.0, "exact fractions, no float error"),
    ("<answer> 3 * 3 </answer>", [3, 2, 3], 9, 0.0, "a number unused"),
    ("<answer> 3 * 3 * 2 * 1 </answer>", [3, 2, 3], 18, 0.0, "a number not given"),
    ("<answer> 3 * 3 * 3 * 2 </answer>", [3, 2, 3], 54, 0.0, "a number used twice"),
    ("<answer> 3 * 2 + 3 </answer>", [3, 2, 3], 18, 0.0, "wrong value"),
    ("<answer> 3 / (2 - 2) </answer>", [3, 2, 2], 0, 0.0, "division by zero"),
    ("<answer> 3 ** 2 * 2 </answer>", [3, 2, 2], 18, 0.0, "power is not allowed"),
    ("<answer> -3 + 2 + 3 </answer>", [3, 2, 3], 2, 0.0, "unary minus is not an operation here"),
    ("<answer> 3.0 * 2 * 3 </answer>", [3, 2, 3], 18, 0.0, "floats are not given numbers"),
    ("(2 * 3) * 3", [3, 2, 3], 18, 0.0, "no answer block"),
    ("<answer> abs(18) </answer>", [18], 18, 0.0, "names and calls"),
    ("<answer> (3 × 3) ÷ (3 − 2) </answer>", [3, 3, 3, 2], 9, 1.0, "typeset operators"),
    ("<answer> 1000000 - 999999 + 3 </answer>", [1000000, 999999, 3], 4, 0.0, "a 7-digit literal"),
    ("<answer> 3 * 3 * 2 </answer>", ["3", "2", "3"], "18", 1.0, "numbers and target given as strings"),
    ("<answer> 3 * 3 * 2 </answer>", [3.0, 2.0, 3.0], 18.0, 1.0, "whole floats are whole numbers"),
    ("<answer> 3 * 3 * 2 </answer>", [3, 2, 3], None, None, "no target: cannot be checked"),
    ("<answer> 3 * 3 * 2 </answer>", None, 18, None, "no numbers: cannot be checked"),
    ("<answer> 3 * 3 * 2 </answer>", [3, 2, 3], 18.5, None, "a fractional target is not a Countdown target"),
    ("<answer> 3 * 3 * 2 </answer>", [3, 2, "x"], 18, None, "a number that is not a number"),
]


@pytest.mark.parametrize("completion,nums,target,expected,why", COUNTDOWN_CASES)
def test_countdown_reward(completion, nums, target, expected, why):
    assert countdown_reward([completion], nums=[nums], target=[target]) == [expected], why


def test_countdown_allow_subset():
    reward = get_reward("countdown_reward", allow_subset=True)
    assert reward(["<answer> 3 * 3 </answer>"], nums=[[3, 2, 3]], target=[9]) == [1.0]
    assert reward(["<answer> 3 * 3 * 3 </answer>"], nums=[[3, 2, 3]], target=[27]) == [0.0]


@pytest.mark.parametrize("name", sorted(REWARDS))
def test_every_registered_reward_resolves_pickles_and_ignores_extra_kwargs(name):
    reward = get_reward(name)
    out = reward([OK, "junk"], prompts=["p", "p"], solution=["7", "7"], nums=[[3, 4], [3, 4]], target=[7, 7],
                 completion_ids=[[1], [2]], trainer_state=None, unexpected_column=[1, 2])
    assert len(out) == 2
    assert pickle.loads(pickle.dumps(reward)).__name__ == reward.__name__


def test_unknown_reward_lists_valid_names():
    with pytest.raises(UnknownRewardError, match="format_reward"):
        get_reward("formt_reward")


def test_dotted_import_path_resolves():
    assert get_rewards(["rewards.format_rewards.format_reward"]) == [format_reward]


def test_cosine_scaled_accuracy_matches_trl_formula():
    from trl.rewards import get_cosine_scaled_reward

    lengths = [0, 10, 25, 50, 99, 100, 150]
    ids = [[7] * n for n in lengths]
    ours = get_reward("cosine_scaled_accuracy_reward", task="gsm8k", max_len=100)
    trl = get_cosine_scaled_reward(max_len=100)
    for right in (True, False):
        answer = "18" if right else "17"
        expected = trl([[{"content": f"\\boxed{{{answer}}}"}]] * len(lengths), ["18"] * len(lengths), ids)
        got = ours([f"<answer>{answer}</answer>"] * len(lengths), solution=["18"] * len(lengths), completion_ids=ids)
        assert got == pytest.approx(expected), (right, got, expected)
    # The values themselves, so a shared mistake cannot hide: right 1.0 -> 0.5, wrong -1.0 -> -0.5.
    assert ours(["<answer>18</answer>"] * 3, solution=["18"] * 3, completion_ids=[[], [1] * 50, [1] * 500]) == \
        pytest.approx([1.0, 0.75, 0.5])


def test_cosine_scaled_accuracy_wraps_the_task_accuracy_and_its_settings():
    countdown = get_reward("cosine_scaled_accuracy_reward", task="countdown", max_len=10, allow_subset=True)
    assert countdown(["<answer> 3 * 3 </answer>", "<answer> 3 + 3 </answer>"], nums=[[3, 2, 3]] * 2,
                     target=[9, 9], completion_ids=[[1] * 10, [1] * 10]) == [0.5, -0.5]
    gsm8k = get_reward("cosine_scaled_accuracy_reward", task="gsm8k", max_len=10, fallback_to_last_number=True,
                       min_value_correct=0.0, max_value_correct=2.0)
    assert gsm8k(["it is 18", "x"], solution=["18", "eighteen"], completion_ids=[[1] * 5, [1]]) == [1.0, None]


# A right and a wrong completion per task, with the columns its accuracy reward reads.
TASK_CASES = {
    "countdown": (["<answer> ( 3 * 3 ) + 2 </answer>", "<answer> 3 + 3 + 2 </answer>"],
                  {"nums": [[3, 2, 3]] * 2, "target": [11, 11]}),
    "gsm8k": (["<answer>18</answer>", "<answer>17</answer>"], {"solution": ["18", "18"]}),
    "arithmetic": (["<answer>27</answer>", "<answer>28</answer>"], {"solution": ["27", "27"]}),
    "math": (["<answer>\\frac{1}{2}</answer>", "<answer>\\frac{1}{3}</answer>"], {"solution": ["\\frac{1}{2}"] * 2}),
}


@pytest.mark.parametrize("task", sorted(ACCURACY_REWARD_FOR_TASK))
def test_cosine_scaled_accuracy_takes_every_tasks_own_accuracy(task):
    completions, columns = TASK_CASES[task]
    assert get_reward(ACCURACY_REWARD_FOR_TASK[task])(completions, **columns) == [1.0, 0.0]
    cosine = get_reward("cosine_scaled_accuracy_reward", task=task, max_len=10)
    assert cosine(completions, completion_ids=[[1] * 0, [1] * 0], **columns) == [1.0, -1.0]


def test_cosine_scaled_accuracy_needs_completion_ids():
    reward = get_reward("cosine_scaled_accuracy_reward", task="gsm8k")
    with pytest.raises(ValueError, match="needs completion_ids"):
        reward(["<answer>18</answer>"], solution=["18"])


def test_repetition_penalty_is_trls_with_recipe_settings():
    from trl.rewards import get_repetition_penalty_reward

    ids = [[1, 2, 3, 4], [5, 5, 5, 5, 5], [1, 2, 1, 2, 1, 2], [9]]
    reward = get_reward("repetition_penalty_reward", ngram_size=2, max_penalty=-0.5)
    assert reward(["a"] * 4, completion_ids=ids) == get_repetition_penalty_reward(2, -0.5)(ids)
    assert reward(["a"] * 4, completion_ids=ids) == [0.0, -0.375, -0.3, 0.0]


def test_recipe_defaults_match_reward_defaults():
    """One default per setting: a recipe that says nothing gets what the reward class would use."""
    import inspect

    from scripts.lib.recipe.arguments import R1ZeroArguments

    all_settings = R1ZeroArguments().reward_settings()
    checked = 0
    for reward_name, entry in REWARDS.items():
        if inspect.isclass(entry):
            settings = all_settings[reward_name]
            for name, param in inspect.signature(entry).parameters.items():
                assert name in settings, f"{entry.__name__} setting {name} has no recipe field"
                assert settings[name] == param.default, f"{entry.__name__}.{name}"
                checked += 1
    assert checked >= 10


def test_recipe_sets_reward_funcs_weights_and_settings(tmp_path, monkeypatch):
    from scripts.lib.recipe.parsing import parse_recipe

    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "model_name_or_path: x\nbf16: false\ntask: gsm8k\noutput_dir: " + str(tmp_path / "o") + "\n"
        "reward_funcs: [format_shaped_reward, cosine_scaled_accuracy_reward, repetition_penalty_reward]\n"
        "reward_weights: [0.25, 1.0, 0.5]\ncosine_max_len: 20\nrepetition_n_grams: 2\n"
        "repetition_max_penalty: -0.5\ngsm8k_fallback_last_number: true\n"
    )
    script_args, training_args, _ = parse_recipe(["--config", str(recipe)])
    assert training_args.reward_weights == [0.25, 1.0, 0.5]
    shaped, cosine, repetition = get_rewards(script_args.reward_names(), script_args.reward_settings())
    ids = [[5] * 10, [1] * 20]
    assert shaped(["<think>", "x"]) == [0.25, 0.0]
    assert cosine(["it is 18", "it is 17"], solution=["18", "18"], completion_ids=ids) == pytest.approx([0.75, -0.5])
    assert repetition(["a", "b"], completion_ids=ids) == pytest.approx([-0.5 * (1 - 1 / 9), -0.5 * (1 - 1 / 19)])


def test_bench_rewards_quick_mode_on_a_tiny_gsm8k_file(capsys):
    from conftest import FIXTURES
    from scripts.bench.rewards import run
    from scripts.bench.rewards_cases import FORMATS, SLOW_FORMATS

    # Exit 0 or 1 depends on timings (1: a speed target missed on a busy machine); the content does not.
    assert run([str(FIXTURES / "gsm8k_tiny.jsonl"), "--max-ids", "512"]) in (0, 1)
    out = capsys.readouterr().out
    assert "GSM8K: 4 gold answers" in out, "the row with no '####' line is skipped"
    for name in [*FORMATS, *SLOW_FORMATS]:
        row = next(line for line in out.splitlines() if line.startswith(name + " "))
        # items, math-verify decides all 4, 100 % agreement, our reward scores all 4 as intended
        assert row.split()[1] == "4" and row.split()[7:10] == ["4", "100.00%", "100.0%"], row
    assert "0 disagreements" in out
    for name in REWARDS:
        assert f"  {name} " in out, f"hostile timing for {name}"


def test_bench_rewards_missing_file_is_one_line_and_exit_2(capsys):
    from scripts.bench.rewards import run

    assert run(["no/such/test.jsonl"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: GSM8K file not found: no/such/test.jsonl") and len(err.strip().splitlines()) == 1


# soft_overlong_punishment_reward (DAPO Eq. 13), L_max 100, L_cache 20: each case with why it scores so.
OVERLONG_CASES = [
    (0, 0.0, "empty: far below L_max - L_cache"),
    (79, 0.0, "just below the ramp"),
    (80, 0.0, "L_max - L_cache itself is still unpunished (<=)"),
    (81, -0.05, "first token into the ramp: -(81 - 80) / 20"),
    (95, -0.75, "three quarters down the ramp"),
    (100, -1.0, "exactly L_max: the full penalty"),
    (101, -1.0, "past L_max (a generation limit above L_max): stays at -1"),
]


@pytest.mark.parametrize("length, expected, why", OVERLONG_CASES, ids=[c[2] for c in OVERLONG_CASES])
def test_soft_overlong_punishment_cases(length, expected, why):
    reward = get_reward("soft_overlong_punishment_reward", max_completion_len=100, soft_punish_cache=20)
    assert reward(["text"], completion_ids=[[7] * length]) == [pytest.approx(expected)]


def test_soft_overlong_punishment_is_trls_on_held_out_lengths():
    """Lengths the cases above do not use, with DAPO's own L_max/L_cache (20480/4096): TRL's function is the spec."""
    from trl.rewards import get_soft_overlong_punishment

    lengths = [1, 4096, 16383, 16384, 16385, 18432, 20479, 20480, 20481]
    ids = [[3] * n for n in lengths]
    ours = get_reward("soft_overlong_punishment_reward", max_completion_len=20480, soft_punish_cache=4096)
    assert ours(["x"] * len(ids), completion_ids=ids) == get_soft_overlong_punishment(20480, 4096)(ids)
    assert ours(["x"] * 3, completion_ids=[[3] * 16384, [3] * 18432, [3] * 20480]) == [0.0, -0.5, -1.0]


def test_soft_overlong_punishment_recipe_settings(tmp_path):
    from scripts.lib.recipe.cli import RecipeError
    from scripts.lib.recipe.parsing import parse_recipe

    base = ["--output_dir", str(tmp_path), "--use_cpu", "true", "--bf16", "false",
            "--model_name_or_path", "m", "--reward_funcs", "format_reward", "soft_overlong_punishment_reward",
            "--max_completion_length", "64"]
    script, _, _ = parse_recipe([*base, "--overlong_cache", "16"])
    # L_max defaults to max_completion_length, as DAPO sets it
    assert script.reward_settings()["soft_overlong_punishment_reward"] == {"max_completion_len": 64,
                                                                          "soft_punish_cache": 16}
    with pytest.raises(RecipeError, match="0 < overlong_cache < overlong_max_len"):
        parse_recipe(base)  # no cache: the reward could never fire
    with pytest.raises(RecipeError, match="no reward in reward_funcs uses it"):
        parse_recipe([*base[:-5], "--reward_funcs", "format_reward", "--overlong_cache", "16"])


def test_math_reward_reads_the_boxed_answer_after_the_qwen_math_prompt():
    from data.prompts import build_r1_zero_prompt

    qwen, r1 = build_r1_zero_prompt("1+1?", "qwen_math"), build_r1_zero_prompt("1+1?", "r1_zero")
    completions = ["1+1 = \\boxed{2}.", "<think> x </think> <answer> 2 </answer>", "so \\boxed{2}, no: \\boxed{3}"]
    reward = get_reward("math_accuracy_reward")
    # Qwen-Math prompt: the last \boxed{} of the completion; <answer> tags are not what it asked for.
    assert reward(completions, solution=["2"] * 3, prompts=[qwen] * 3) == [1.0, 0.0, 0.0]
    # R1 prompt: the <answer> block, as before.
    assert reward(completions, solution=["2"] * 3, prompts=[r1] * 3) == [0.0, 1.0, 0.0]
