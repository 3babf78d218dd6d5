"""scripts/bench/gpu_check.py on the CPU (``--dry-run``): the GPU check's code path, so it cannot rot between GPU runs."""

from __future__ import annotations

import json

import pytest

from scripts.bench import gpu_check
from scripts.bench.gpu_check_parts import failure, gpu_recipes


def _dry_run(tmp_path, capsys, *only: str) -> dict:
    # In this process (one interpreter start fewer); each recipe still trains in its own child process.
    out = tmp_path / "check"
    assert gpu_check.main(["--dry-run", "--out", str(out), "--only", *only]) == 0
    assert f"report written to {out / 'report.md'}" in capsys.readouterr().out
    assert not (out / "work").exists()  # models and runs are removed; report, JSON and logs stay
    report = json.loads((out / "report.json").read_text())
    report["markdown"] = (out / "report.md").read_text()
    return report


def test_dry_run_trains_a_lora_recipe_through_the_kit_and_reports_it(tmp_path, capsys):
    # LoRA + generated Countdown + the recipe parser + preflight's estimate + scripts.train, in one child.
    report = _dry_run(tmp_path, capsys, "qwen2.5-3b_countdown_lora")
    (row,) = report["recipes"]
    assert row["status"] == "ok", row
    assert [s["step"] for s in row["steps"]] == [1, 2] and row["s_per_step"] > 0 and row["gen_tokens_per_s"] > 0
    # The recipe's own settings survive, but for the overrides: LoRA (trainable << all), no vLLM.
    assert 0 < row["trainable"] < row["parameters"] and row["estimate_bytes"] > 0
    assert "--use_vllm false" in row["command"] and "--config recipes/qwen2.5-3b_countdown_lora.yaml" in row["command"]
    assert row["peak_bytes"] is None  # no GPU: no peak, so no ratio; the table says "-"
    assert "| qwen2.5-3b_countdown_lora | tiny | ok |" in report["markdown"]
    assert "use_vllm: false" in report["markdown"] and "worst-case lengths" in report["markdown"]


@pytest.mark.slow
def test_dry_run_of_every_part(tmp_path, capsys):
    names = [p.stem for p in gpu_recipes(None)]
    report = _dry_run(tmp_path, capsys, *names, "decode", "demo")
    assert [r["recipe"] for r in report["recipes"]] == names
    assert all(r["status"].startswith("ok") for r in report["recipes"]), report["recipes"]
    decode = report["decode"]  # the tiny model is far below the bandwidth bound on a CPU
    assert decode["status"] == "ok" and decode["bound_tokens_per_s"] > decode["decode"]["decode_tokens_per_s"] > 0
    assert report["demo"]["status"] == "ok"
    assert report["demo"]["table"][:2] == ["| held-out (n=4) | before | after |", "|---|---|---|"]


def test_every_gpu_recipe_has_a_model_shape():
    from scripts.lib.recipe.yaml_file import load_recipe_yaml
    from scripts.bench.model_shapes import shape_for_model

    recipes = gpu_recipes(None)
    assert len(recipes) >= 5
    for path in recipes:
        assert shape_for_model(load_recipe_yaml(str(path))["model_name_or_path"]), path.name


def test_without_a_gpu_it_stops_with_one_line(capsys, monkeypatch):
    from scripts.lib.recipe.cli import run_cli

    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert run_cli(gpu_check.main, ["--out", "unused"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no GPU here") and "--dry-run" in err and "\n" not in err


def test_a_crash_or_oom_is_a_result_not_a_crash():
    assert failure(0, "", {}) is None
    assert failure("timeout", "", {}) == "stopped at its time cap"
    oom = {"error": "OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"}
    assert failure(1, "", oom) == "out of GPU memory"
    assert failure(2, "error: model path not found: x\n", {}) == "exit 2: error: model path not found: x"
