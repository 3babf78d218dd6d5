"""`make bench-aha` (scripts/bench/aha.py): the per-seed table and issue #16's targets, on recorded seeds."""

from __future__ import annotations

import json

from scripts.bench import aha as bench_aha


def seed_result(acc_after: float, aha_step, learned=20, wall=400.0) -> dict:
    before = {"format": 0.12, "accuracy": 0.05, "self_check": 0.04, "honest_checks": 0.96, "final_ok_true": 0.3,
              "wrong_to_right": 0.02,
              "mean_length": 16.0, "accuracy_self_checking": 0.2, "accuracy_rest": 0.08}
    after = {"format": 0.95, "accuracy": acc_after, "self_check": 0.35, "honest_checks": 0.97, "final_ok_true": 0.8,
             "wrong_to_right": 0.1,
             "mean_length": 34.0, "accuracy_self_checking": 0.3, "accuracy_rest": 0.2}
    return {"before": before, "after": after, "wall_s": wall, "aha_step": aha_step, "format_learned_step": learned,
            "prompt": "P", "example_before": "b", "example_after": "a"}


def test_targets_check_medians_and_every_seed():
    good = {42: seed_result(0.22, 137), 0: seed_result(0.25, 120), 1: seed_result(0.21, 150)}
    assert all(met for _, met, _ in bench_aha.targets(good, 600))
    # one seed without an aha step whose accuracy only rises x2.7, one whose aha comes before the format is learned
    bad = {**good, 0: seed_result(0.135, None), 1: seed_result(0.22, 10, learned=20)}
    missed = {label for label, met, _ in bench_aha.targets(bad, 600) if not met}
    assert missed == {"every seed: accuracy >= 3x its base, median >= 4x",
                      "every seed: an aha step, after the format is learned"}
    # checks that get less honest, or a search's final `ok` that is false too often, are misses
    liar = seed_result(0.22, 137)
    liar["after"].update(honest_checks=0.95, final_ok_true=0.5)
    missed = {label for label, met, _ in bench_aha.targets({**good, 1: liar}, 600) if not met}
    assert missed == {"honest checks after >= before on every seed, median >= 0.95 after",
                      "every seed: final ok true in >= 70 % of searches that stop on one, after"}


def test_recorded_seeds_give_the_table_targets_and_the_results_file(tmp_path, capsys):
    for seed, acc in ((42, 0.22), (0, 0.25), (1, 0.21)):
        (tmp_path / f"seed{seed}.json").write_text(json.dumps(seed_result(acc, 137)))
    assert bench_aha.main(["--out", str(tmp_path), "--resume"]) == 0
    out = capsys.readouterr().out
    assert ("| seed | format before -> after | accuracy before -> after | self-check share before -> after | "
            "honest checks before -> after | final ok true before -> after | wrong->right before -> after | "
            "mean length before -> after | "
            "accuracy self-checking vs rest, after | aha step | wall (min) |") in out
    assert ("| 42 | 0.120 -> 0.950 | 0.050 -> 0.220 | 0.040 -> 0.350 | 0.960 -> 0.970 | 0.300 -> 0.800 | 0.020 -> 0.100 | "
            "16.000 -> 34.000 | 0.300 vs 0.200 | 137 (format at 20) | 6.7 |") in out
    assert "MISSED" not in out and out.strip().endswith(f"results: {tmp_path / 'RESULTS.md'}")
    assert "| median |" in (tmp_path / "RESULTS.md").read_text()


def test_a_missed_target_exits_nonzero_and_says_so(tmp_path, capsys):
    """The exit code tells a script what the table tells a person: one seed whose final ok is false too often."""
    liar = seed_result(0.22, 137)
    liar["after"]["final_ok_true"] = 0.5
    for seed, result in ((42, seed_result(0.22, 137)), (0, seed_result(0.25, 120)), (1, liar)):
        (tmp_path / f"seed{seed}.json").write_text(json.dumps(result))
    assert bench_aha.main(["--out", str(tmp_path), "--resume"]) == 1
    out = capsys.readouterr().out
    assert "MISSED  every seed: final ok true in >= 70 % of searches that stop on one, after" in out
    assert "1 of 10 targets MISSED (exit 1)" in out and out.strip().endswith(f"results: {tmp_path / 'RESULTS.md'}")
    # through the command line too: the process's exit status, not only main's return value
    assert bench_aha.run(["--out", str(tmp_path), "--resume"]) == 1


def test_the_stops_table_gives_each_seeds_false_ok_kinds_before_and_after():
    r = seed_result(0.22, 137)
    r["before"].update(searches_stopping_on_ok=56, false_ok_comparison=0.76, false_ok_arithmetic=0.14,
                       false_ok_other=0.1, true_ok_answer_differs=0.15, searches_repeating_a_try=0.58)
    r["after"].update(searches_stopping_on_ok=120)   # a run recorded before the kinds existed: '-'
    text = bench_aha.stops_table({42: r})
    assert ("| 42 | 56 -> 120 | 0.300 -> 0.800 | 0.760 -> - | 0.140 -> - | 0.100 -> - | 0.150 -> - | 0.580 -> - |"
            in text.splitlines())
