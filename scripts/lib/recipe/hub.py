"""What a recipe needs from the Hugging Face hub: the plan, whether it is there, and fetching it.

``FetchPlan``: the model's weights (safetensors only), config and tokenizer files, and the dataset
split(s) a recipe trains and evaluates on. ``check_available`` is what ``scripts/train.py`` runs
before loading any data or model, so a model or dataset that is neither cached nor reachable stops the run at once with one
line saying so. ``scripts/download.py`` is the command.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from data.loading import is_local
from scripts.lib.recipe.cli import RecipeError

# A model folder as transformers loads it, without the duplicate PyTorch/TF/Flax/GGUF weights
# that many hub repositories also carry.
MODEL_FILES = (
    "*.safetensors", "*.safetensors.index.json", "config.json", "generation_config.json",
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "vocab.json", "merges.txt", "tokenizer.model", "chat_template.jinja", "chat_template.json",
)
# The hub config name the GSM8K loader asks for (openai/gsm8k has `main` and `socratic`).
HUB_CONFIG_FOR_TASK = {"gsm8k": "main"}


@dataclass(frozen=True)
class ModelFetch:
    repo_id: str
    revision: str | None
    allow_patterns: tuple[str, ...] = MODEL_FILES


@dataclass(frozen=True)
class DatasetFetch:
    repo_id: str
    config: str | None
    splits: tuple[tuple[str, str], ...]  # (role, split as load_dataset takes it), e.g. ("train", "train[:327680]")


@dataclass(frozen=True)
class FetchPlan:
    model: ModelFetch | None
    dataset: DatasetFetch | None
    notes: tuple[str, ...]  # what the recipe uses that is not fetched, and why

    def is_empty(self) -> bool:
        return self.model is None and self.dataset is None


def plan_for(script_args, model_args) -> FetchPlan:
    """What a parsed recipe needs from the hub; pure (no network, no file reads beyond ``exists``)."""
    notes = []
    model = None
    name = model_args.model_name_or_path
    if script_args.tiny_base_recipe:
        notes.append(f"model {name}: built on this machine from {script_args.tiny_base_recipe}")
    elif is_local(name):
        notes.append(f"model {name}: local folder")
    else:
        model = ModelFetch(name, model_args.model_revision)

    dataset = None
    source = script_args.dataset_name
    if not source:
        notes.append("data: generated on this machine" if script_args.task in ("countdown", "arithmetic")
                     else "data: dataset_name is not set")
    elif is_local(source):
        notes.append(f"data {source}: local")
    else:
        splits = [("train", script_args.dataset_train_split)]
        if script_args.holdout_size:
            splits.append(("test", script_args.dataset_test_split))
        dataset = DatasetFetch(source, HUB_CONFIG_FOR_TASK.get(script_args.task), tuple(splits))
    return FetchPlan(model, dataset, tuple(notes))


def local_paths(plan: FetchPlan, local_dir: str | Path) -> dict:
    """Where ``--local-dir`` puts each thing, and the recipe overrides that point training at it."""
    root = Path(local_dir).expanduser()
    paths, overrides = {}, []
    if plan.model:
        paths["model"] = root / "models" / plan.model.repo_id
        overrides += ["--model_name_or_path", str(paths["model"])]
    if plan.dataset:
        paths["data"] = root / "data" / plan.dataset.repo_id
        # One {role}.jsonl per split: the folder form data/loading.py reads, whatever slice the hub split was.
        overrides += ["--dataset_name", str(paths["data"])]
        overrides += [arg for role, _ in plan.dataset.splits for arg in (f"--dataset_{role}_split", role)]
    return {"paths": paths, "overrides": overrides}


# -- availability: the check train.py runs before loading anything -------------------------------

def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def model_cached(model: ModelFetch) -> bool:
    """Config and at least one safetensors file of this revision are in the hub cache."""
    from huggingface_hub import try_to_load_from_cache

    config = try_to_load_from_cache(model.repo_id, "config.json", revision=model.revision)
    return isinstance(config, str) and any(Path(config).parent.glob("*.safetensors"))


def dataset_cached(dataset: DatasetFetch) -> bool:
    """A prepared copy is in the datasets cache: what ``load_dataset`` falls back to offline."""
    from datasets.load import CachedDatasetModuleFactory

    try:
        CachedDatasetModuleFactory(dataset.repo_id).get_module()
    except (FileNotFoundError, OSError, ValueError):
        return False
    return True


def _probe(kind: str, repo_id: str, revision: str | None) -> str | None:
    """None if the hub answers for this repo; 'unreachable' if it does not; RecipeError if it says no."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    api = HfApi()
    try:
        if kind == "model":
            api.model_info(repo_id, revision=revision, timeout=10)
        else:
            api.dataset_info(repo_id, timeout=10)
    except GatedRepoError:
        raise RecipeError(f"{kind} {repo_id} is gated: accept its terms on huggingface.co, then `hf auth login`") from None
    except RepositoryNotFoundError:
        raise RecipeError(f"{kind} {repo_id} is not on the hub (or is private): check the name") from None
    except RevisionNotFoundError:
        raise RecipeError(f"{kind} {repo_id} has no revision {revision!r}: check model_revision") from None
    except Exception:  # noqa: BLE001 - connection refused, DNS, proxy, timeout: all mean "no hub from here"
        return "unreachable"
    return None


def check_available(script_args, model_args) -> None:
    """Stop with one line if a hub model or dataset is not cached and the hub cannot be reached.

    Cached things are never probed, so an offline run with everything downloaded costs no network
    call; a missing thing is probed once (10 s timeout) unless offline mode is on.
    """
    plan = plan_for(script_args, model_args)
    missing = []
    if plan.model and not model_cached(plan.model):
        offline = _env_true("HF_HUB_OFFLINE")
        if offline or _probe("model", plan.model.repo_id, plan.model.revision):
            missing.append(f"model {plan.model.repo_id}")
    if plan.dataset and not dataset_cached(plan.dataset):
        offline = _env_true("HF_HUB_OFFLINE") or _env_true("HF_DATASETS_OFFLINE")
        if offline or _probe("dataset", plan.dataset.repo_id, None):
            missing.append(f"dataset {plan.dataset.repo_id}")
    if missing:
        why = "offline mode is on (HF_HUB_OFFLINE/HF_DATASETS_OFFLINE)" if (
            _env_true("HF_HUB_OFFLINE") or _env_true("HF_DATASETS_OFFLINE")) else "the hub cannot be reached"
        raise RecipeError(
            f"{' and '.join(missing)} not in the local cache and {why}: run `make download RECIPE=<this recipe>` "
            "on a machine with internet (same HF_HOME), or point model_name_or_path / dataset_name at local paths"
        )


# -- downloading ----------------------------------------------------------------------------------

def _size(path: Path) -> int:
    """Bytes under a file or folder; follows the hub cache's symlinks to the blobs they name."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def human(n: int) -> str:
    """
    >>> human(988_097_824)
    '988.1 MB'
    >>> human(1_500)
    '1.5 kB'
    """
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def fetch_model(model: ModelFetch, local_dir: Path | None = None) -> Path:
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(model.repo_id, revision=model.revision, allow_patterns=list(model.allow_patterns),
                                  local_dir=str(local_dir) if local_dir else None))


def _load_split(dataset: DatasetFetch, split: str):
    from datasets import load_dataset

    try:
        return load_dataset(dataset.repo_id, dataset.config, split=split)
    except ValueError as err:
        # Same fallback as data/loading.py: a GSM8K-shaped dataset without a `main` config.
        if dataset.config and "config" in str(err).lower():
            return load_dataset(dataset.repo_id, split=split)
        raise


def fetch_dataset(dataset: DatasetFetch, local_dir: Path | None = None) -> list[tuple[str, Path, int]]:
    """(role, where, bytes) per split; the cache holds each hub file once, however many slices use it."""
    results, seen = [], set()
    for role, split in dataset.splits:
        rows = _load_split(dataset, split)
        if local_dir:
            local_dir.mkdir(parents=True, exist_ok=True)
            target = local_dir / f"{role}.jsonl"
            rows.to_json(str(target), lines=True)
            results.append((role, target, target.stat().st_size))
            continue
        files = [Path(f["filename"]) for f in rows.cache_files]
        new = [f for f in files if str(f) not in seen]
        seen.update(str(f) for f in files)
        where = files[0].parent if files else Path("(in memory)")
        results.append((role, where, sum(f.stat().st_size for f in new if f.exists())))
    return results


def download(plan: FetchPlan, local_dir: str | None = None, out=print) -> int:
    """Fetch the plan; print one line per thing and the total. Returns the bytes on disk."""
    paths = local_paths(plan, local_dir)["paths"] if local_dir else {}
    total = 0
    if plan.model:
        where = fetch_model(plan.model, paths.get("model"))
        size = _size(where)
        total += size
        out(f"model    {plan.model.repo_id} -> {where} ({human(size)})")
    if plan.dataset:
        label = plan.dataset.repo_id + (f" ({plan.dataset.config})" if plan.dataset.config else "")
        for role, where, size in fetch_dataset(plan.dataset, paths.get("data")):
            total += size
            split = dict(plan.dataset.splits)[role]
            out(f"dataset  {label} {split} -> {where} ({human(size)})")
    out(f"total    {human(total)}")
    return total
