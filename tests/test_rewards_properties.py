"""Property tests: random and hostile completions never raise, get the right value, and run nothing."""

from __future__ import annotations

import logging
import sys
import time
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewards import REWARDS, get_reward, get_rewards
from scripts.lib.recipe.arguments import R1ZeroArguments
from rewards.accuracy_rewards import fast_verdict, gsm8k_accuracy_reward
from rewards.countdown_rewards import countdown_reward
from rewards.format_rewards import TAGS, format_reward, format_shaped_reward

# Machines differ and the suite shares CPUs: no per-example deadline, a fixed example budget, and
# the same examples every run (a failure reproduces; hypothesis still shrinks it).
FAST = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
logging.getLogger("math_verify").setLevel(logging.CRITICAL)

GSM8K = {"solution": ["18"]}
COUNTDOWN = {"nums": [[3, 2, 3]], "target": [18]}


def columns_for(name: str) -> dict:
    return GSM8K if name.startswith(("gsm8k", "cosine", "math")) else COUNTDOWN


def every_reward():
    for name in sorted(REWARDS):
        task = "gsm8k" if name.startswith(("gsm8k", "cosine")) else "countdown"
        yield name, get_rewards([name], R1ZeroArguments(task=task).reward_settings())[0]


def call(reward, name: str, text: str):
    (value,) = reward([text], completion_ids=[[ord(c) % 97 for c in text[:4096]]], prompts=["p"], **columns_for(name))
    return value


ALLOWED = {
    "format_reward": {0.0, 1.0},
    "format_shaped_reward": {0.0, 0.25, 0.5, 0.75, 1.0},
    "gsm8k_accuracy_reward": {0.0, 1.0},
    "math_accuracy_reward": {0.0, 1.0},
    "countdown_reward": {0.0, 1.0},
}


def in_range(name: str, value) -> bool:
    if name in ALLOWED:
        return value in ALLOWED[name]
    if name == "cosine_scaled_accuracy_reward":
        return -1.0 <= value <= 1.0
    return -1.0 <= value <= 0.0  # repetition penalty, soft overlong punishment


# Text made of the pieces rewards look for, so random examples hit the parsers, not just "no tags".
PIECES = st.sampled_from(list(TAGS) + ["18", "1,000", "$", "\\boxed{", "}", "(", ")", "**", "/", "0", "=", " ",
                                       "\\frac{", "3", "*", "-", "%", "٣", "\u202e", "\n", "x", "."])
TAGGY_TEXT = st.lists(PIECES, max_size=40).map("".join)


@FAST
@given(text=st.one_of(st.text(max_size=300), TAGGY_TEXT))
def test_every_reward_returns_one_allowed_value_on_any_text(text):
    for name, reward in every_reward():
        value = call(reward, name, text)
        assert in_range(name, value), (name, text, value)


# -- hostile input -------------------------------------------------------------------------------

DEEP = "(" * 10_000 + "1" + ")" * 10_000
# (completion, format_shaped_reward's value): every other reward must score 0 on each of these.
HOSTILE = [
    ("a" * 1_000_000, 0.0),
    ("<answer>" + "9" * 1_000_000 + "</answer>", 0.5),
    ("<think>" + "wait " * 200_000, 0.25),
    ("<answer>" * 125_000 + "</answer>", 0.25),
    ("<think>" * 140_000, 0.0),
    ("<answer>" + "\u202e\u0000\ud800🙂١٨𝟏𝟖\u200b" * 1000 + "</answer>", 0.5),
    ("<answer>__import__('os').system('echo pwned')</answer>", 0.5),
    ("<answer>9**9**9**9</answer>", 0.5),
    ("<answer>$9^{9^{9^{9}}}$</answer>", 0.5),
    ("<answer>10**(10**6)</answer>", 0.5),
    ("<answer>$1000000!$</answer>", 0.5),
    (f"<answer>{DEEP}</answer>", 0.5),
    (DEEP, 0.0),
    ("<answer>" + "(" * 99 + "18" + ")" * 99 + "</answer>", 0.5),
    ("<answer>1/0</answer>", 0.5),
    ("<answer>\\frac{1}{0}</answer>", 0.5),
    ("<answer>3/(2-2)</answer>", 0.5),
    ("<answer>" + "9" * 199 + "</answer>", 0.5),
]


@pytest.fixture(scope="module", autouse=True)
def warm_math_verify():
    # The first math-verify call imports sympy's parsers (~1 s); that is not a per-call cost.
    gsm8k_accuracy_reward(["<answer>$\\frac{36}{2}$</answer>", "<answer>3/(2-2) apples</answer>"],
                          solution=["18", "18"])
    # math_accuracy_reward parses in math mode: its first division by zero costs sympy a one-time ~1 s too.
    REWARDS["math_accuracy_reward"](["<answer>3/(2-2)</answer>"], solution=["18"])


@pytest.mark.parametrize("index", range(len(HOSTILE)))
def test_hostile_completion_scores_exactly_and_quickly(index):
    text, shaped = HOSTILE[index]
    for name, reward in every_reward():
        started = time.process_time()  # CPU time of this process: the machine's load does not count
        value = call(reward, name, text)
        elapsed = time.process_time() - started
        expected = {"format_shaped_reward": shaped, "cosine_scaled_accuracy_reward": -0.5 if len(text) >= 4096 else None,
                    "repetition_penalty_reward": None,
                    # length-based (token ids, not text): exact values are its doctests and test_rewards cases
                    "soft_overlong_punishment_reward": None}.get(name, 0.0)
        if expected is not None:
            assert value == pytest.approx(expected), (name, text[:60])
        else:
            assert in_range(name, value), (name, text[:60], value)
        # math-verify's own timeout is 1 s: a hostile input that reached it would take that long.
        assert elapsed < 0.5, (name, text[:60], elapsed)


# -- nothing is executed --------------------------------------------------------------------------

_AUDIT = {"active": False, "events": []}
_WATCHED = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "subprocess.Popen", "socket.connect",
            "os.remove", "os.rmdir", "shutil.rmtree", "ctypes.dlopen")


def _audit(event, args):
    if _AUDIT["active"] and (event.startswith(_WATCHED) or (event == "open" and "pwned" in str(args[0]))):
        _AUDIT["events"].append((event, args))


sys.addaudithook(_audit)  # hooks cannot be removed; this one only records while a test switches it on


def payloads(marker: str) -> list[str]:
    return [
        f"__import__('os').system('touch {marker}')",
        f"__import__('subprocess').run(['touch', '{marker}'])",
        f"open('{marker}', 'w').write('x')",
        f"exec(\"open('{marker}', 'w')\")",
        f"eval(\"__import__('os').system('touch {marker}')\")",
        f"(lambda: open('{marker}', 'w'))()",
        f"$__import__('os').system('touch {marker}')$",
        f"\\boxed{{__import__('os').system('touch {marker}')}}",
        f"x = __import__('os').system('touch {marker}')",
        f"1 + __import__('os').system('touch {marker}')",
        f"[c for c in ().__class__.__base__.__subclasses__()]",
    ]


def test_no_reward_executes_model_text(tmp_path):
    marker = tmp_path / "pwned"
    texts = payloads(str(marker))
    completions = [f"<think> x </think> <answer> {p} </answer>" for p in texts]
    expected = {"format_reward": 1.0, "format_shaped_reward": 1.0, "gsm8k_accuracy_reward": 0.0, "countdown_reward": 0.0}
    _AUDIT["active"], _AUDIT["events"] = True, []
    try:
        for name, reward in every_reward():
            for text in completions:
                value = call(reward, name, text)
                assert value == expected[name] if name in expected else in_range(name, value), (name, text)
        # A fallback that reads the last number is not a way in either.
        fallback = get_reward("gsm8k_accuracy_reward", fallback_to_last_number=True)
        assert fallback(texts, solution=["18"] * len(texts)) == [0.0] * len(texts)
    finally:
        _AUDIT["active"] = False
    assert not marker.exists()
    assert _AUDIT["events"] == []


# -- GSM8K: right numbers in every fast form are 1, wrong ones 0, and math-verify agrees ---------

FAST_FORMS = ["{}", "{:,}", "${:,}", "\\${}", "${}$", "\\boxed{{{}}}", "$\\boxed{{{:,}}}$", "\\({}\\)", "{}.00",
              "${:,}.00", "\\boxed{{\\${}}}"]


@FAST
@given(gold=st.integers(-10**6, 10**12), form=st.sampled_from(FAST_FORMS), delta=st.integers(-1000, 1000))
def test_gsm8k_fast_forms_score_exactly(gold, form, delta):
    answer = form.format(gold + delta)
    if ".00" not in form or abs(gold + delta) < 10**8:  # more digits: math-verify's 15-digit floats decide
        assert fast_verdict(str(gold), answer) is (delta == 0), answer
    assert gsm8k_accuracy_reward([f"<answer>{answer}</answer>"], solution=[str(gold)]) == [float(delta == 0)]


def _decimal(value: Fraction, places: int, commas: bool) -> str:
    sign, value = ("-" if value < 0 else ""), abs(value)
    whole, part = divmod(round(value * 10**places), 10**places)
    text = f"{whole:,}" if commas else str(whole)
    return sign + text + (f".{part:0{places}d}" if places else "")


NUMBERS = st.one_of(
    st.integers(-10**7, 10**9).map(Fraction),
    st.builds(Fraction, st.integers(-10**6, 10**6), st.sampled_from([2, 4, 5, 8, 10, 100, 1000])),
    st.builds(Fraction, st.integers(1, 50), st.integers(1, 12)),
)
WRAPPERS = ["{}", "${}", "\\${}", "${}$", "$${}$$", "\\({}\\)", "\\[{}\\]", "\\boxed{{{}}}", "$\\boxed{{{}}}$",
            "\\boxed{{\\${}}}", "{}.", "\\boxed{{{}.}}", "({})", "{}%", "{}\\%", "${}\\%$", " {} "]


@st.composite
def number_text(draw, value: Fraction) -> str:
    if value.denominator != 1 and draw(st.booleans()):
        k = draw(st.integers(1, 3))
        body = draw(st.sampled_from(["\\frac{{{}}}{{{}}}", "\\dfrac{{{}}}{{{}}}", "{}/{}"]))
        text = ("-" if value < 0 else "") + body.format(abs(value.numerator) * k, value.denominator * k)
    else:
        text = _decimal(value, draw(st.sampled_from([0, 1, 2, 3, 6, 7])), draw(st.booleans()))
        if draw(st.integers(0, 3)) == 0:
            text = "+" + text
    return draw(st.sampled_from(WRAPPERS)).format(text)


@settings(FAST, max_examples=100)  # each example runs math-verify a few times
@given(data=st.data(), gold=NUMBERS)
def test_fast_path_agrees_with_math_verify_wherever_it_decides(data, gold):
    from math_verify import parse, verify

    # The same value half the time: that is where a misread form turns a 1 into a 0 or back.
    value = data.draw(st.sampled_from([gold] * 5 + [gold + 1, gold * 10, gold + Fraction(1, 10**7), -gold, Fraction(1, 3)]))
    gold_text, answer = data.draw(number_text(gold)), data.draw(number_text(value))
    verdict = fast_verdict(gold_text, answer)
    gold_parsed, answer_parsed = parse(gold_text), parse(answer)
    if verdict is not None and gold_parsed and answer_parsed:
        assert verdict == verify(gold_parsed, answer_parsed), (gold_text, answer)
    # And the reward as a whole, fast path or not, agrees wherever math-verify decides.
    if gold_parsed and answer_parsed:
        reward = gsm8k_accuracy_reward([f"<answer>{answer}</answer>"], solution=[gold_text])
        assert reward == [float(verify(gold_parsed, answer_parsed))], (gold_text, answer)


# Forms where math-verify reads a number differently from how it looks, found by fuzzing the fast
# path against it: "+" with thousands separators in math mode is a set {4, 285}; a dot after a
# boxed number is a string; a currency sign before a fraction is not a fraction; "- 5" in plain text.
TRICKY = [
    ("4285", "\\(+4,285\\)"), ("4285", "$+4,285$"), ("4285", "\\boxed{+4,285}"), ("4285", "\\boxed{\\$+4,285}"),
    ("18", "$+18$"), ("4285", "\\(+4285\\)"), ("18", "\\boxed{18.}"), ("18", "$18.$"), ("7/3", "$14 / 6"),
    ("7/3", "\\$14/6"), ("-5612", "- 5,612"), ("659663", "- 659663.000"), ("2641", "002,641"), ("1234", "12,34"),
    ("12.34", "12,34"), ("1000", "1{,}000"), ("1000", "$1{,}000$"), ("18", "18%"), ("12.5", "12.5%"),
    ("12.5", "$12.5\\%$"), ("12.5", "12.5\\%"), ("0.5", "50%"), ("100", "100.0%"), ("18", "18.0000001"),
    ("18.0", "18.0000001"), ("\\frac{1}{3}", "0.333333"), ("\\frac{1}{3}", "0.3333333"), ("0.75", "\\dfrac{3}{4}"),
    ("0.75", "$\\dfrac{3}{4}$"), ("-18", "-18"), ("18", "0018"), ("0", "-0"),
]


@pytest.mark.parametrize("gold,answer", TRICKY)
def test_tricky_forms_agree_with_math_verify(gold, answer):
    from math_verify import parse, verify

    gold_parsed, answer_parsed = parse(gold), parse(answer)
    reward = gsm8k_accuracy_reward([f"<answer>{answer}</answer>"], solution=[gold])
    if gold_parsed and answer_parsed:
        assert reward == [float(verify(gold_parsed, answer_parsed))]
    else:
        assert reward == [float(fast_verdict(gold, answer) or False)]


# -- Countdown: any expression over the numbers scores 1 exactly when it hits the target ----------

@st.composite
def expression(draw, numbers: list[int]) -> tuple[str, Fraction | None]:
    """A fully parenthesised random expression using each number once, and its exact value."""
    if len(numbers) == 1:
        return str(numbers[0]), Fraction(numbers[0])
    cut = draw(st.integers(1, len(numbers) - 1))
    (left, lv), (right, rv) = draw(expression(numbers[:cut])), draw(expression(numbers[cut:]))
    op = draw(st.sampled_from("+-*/"))
    if lv is None or rv is None or (op == "/" and rv == 0):
        value = None
    else:
        value = {"+": lv + rv, "-": lv - rv, "*": lv * rv, "/": lv / rv if rv else None}[op]
    return f"({left} {op} {right})", value


@FAST
@given(data=st.data(), numbers=st.lists(st.integers(1, 99), min_size=2, max_size=5))
def test_countdown_scores_random_expressions_exactly(data, numbers):
    order = data.draw(st.permutations(numbers))
    text, value = data.draw(expression(list(order)))
    completion = [f"<think> try </think> <answer> {text} </answer>"]
    if value is None:  # divides by zero somewhere
        assert countdown_reward(completion, nums=[numbers], target=[1]) == [0.0]
        return
    if value.denominator == 1:
        assert countdown_reward(completion, nums=[numbers], target=[int(value)]) == [1.0], text
    assert countdown_reward(completion, nums=[numbers], target=[int(value) + 1]) == [0.0]
    # One number too many given: 0 unless the recipe allows a subset.
    if value.denominator == 1:
        extra = [*numbers, 7]
        assert countdown_reward(completion, nums=[extra], target=[int(value)]) == [0.0]
        assert get_reward("countdown_reward", allow_subset=True)(completion, nums=[extra], target=[int(value)]) == [1.0]


# -- Format: strict is 1 only for the exact shape; shaped counts tags that appear once ----------

NO_TAGS = st.text(alphabet=st.characters(blacklist_characters="<"), max_size=50)


@FAST
@given(think=NO_TAGS, answer=NO_TAGS, gap=st.sampled_from(["", " ", "\n", " \n\t"]), tail=NO_TAGS)
def test_format_strict_is_exactly_the_shape(think, answer, gap, tail):
    text = f"<think>{think}</think>{gap}<answer>{answer}</answer>"
    assert format_reward([text]) == [1.0]
    assert format_reward([text + tail]) == [0.0 if tail.strip() else 1.0]
    assert format_reward([tail + text]) == [0.0 if tail.strip() else 1.0]


@FAST
@given(counts=st.lists(st.integers(0, 3), min_size=4, max_size=4), filler=NO_TAGS)
def test_format_shaped_counts_tags_present_once(counts, filler):
    text = filler.join(tag * n for tag, n in zip(TAGS, counts))
    assert format_shaped_reward([text]) == [0.25 * sum(n == 1 for n in counts)]
