"""`make bench-search` (scripts/bench/search_orders.py): the corpus writer's search, measured without a model."""

from __future__ import annotations

from scripts.bench import search_orders


def test_heuristic_order_finds_more_within_the_budget_and_the_bench_says_so(capsys):
    assert search_orders.main(["--problems", "2000", "--budgets", "1", "5"]) == 0
    out = capsys.readouterr().out
    rows = {line.split(" | ")[0].strip("| "): [float(x) for x in line.strip(" |").split(" | ")[1:]]
            for line in out.splitlines() if line.startswith("| ") and not line.startswith("| order")}
    assert rows["closest_first"][1] >= 0.9 > rows["random"][1]
    # the shipped writer places the solution at a random try: every search ends on ok, and the last try
    # of the longest searches always says ok (how long the search ran predicts the verdict)
    assert "(search_order random, 3-7 tries)" in out and "1.000 end on a true ok" in out and "7: 1.00" in out
    assert "met     closest_first solves >= 0.90 within 5 tries" in out


def test_a_budget_too_small_to_solve_most_problems_is_a_missed_target(capsys):
    assert search_orders.main(["--problems", "200", "--budget", "1"]) == 1
    assert "MISSED" in capsys.readouterr().out
