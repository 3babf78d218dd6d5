"""The layout the README describes: entry points in scripts/ (benchmarks in scripts/bench/), the
library in scripts/lib/, imports pointing downward (entry point -> scripts.lib -> rewards, data), no
cycles, nothing importing an entry point, the core never importing the benchmarks; and reward settings that are never silently dropped."""

from __future__ import annotations

import ast
import re

import pytest

from conftest import ROOT

PACKAGES = ("scripts", "rewards", "data")


def _modules() -> dict[str, "Path"]:  # noqa: F821
    mods = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            mods[name.removesuffix(".__init__")] = path
    return mods


def _graph():
    """(module -> modules of ours it imports, including function-level imports; entry points)."""
    mods = _modules()
    edges, entry = {m: set() for m in mods}, set()
    for name, path in mods.items():
        source = path.read_text(encoding="utf-8")
        if '__name__ == "__main__"' in source:
            entry.add(name)
        for node in ast.walk(ast.parse(source)):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for target in targets:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges[name].add(target)
    return edges, entry


def _cycle(edges) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_import_graph_has_no_cycle():
    edges, _ = _graph()
    assert _cycle(edges) is None, " -> ".join(_cycle(edges))


def test_no_module_imports_an_entry_point():
    # Import statements; bench/train_runs.py runs scripts.train through runpy on purpose, as `python -m` does.
    edges, entry = _graph()
    bad = sorted((m, e) for m, targets in edges.items() for e in targets if e in entry)
    assert bad == [], f"entry points imported as libraries: {bad}"


def test_imports_point_downward():
    # Layers: entry points (scripts/*.py) > scripts.lib > data > rewards. Nothing below imports above.
    edges, entry = _graph()
    assert entry >= {f"scripts.{n}" for n in ("train", "evaluate", "preflight", "download", "export", "plot",
                                               "checkpoints", "build_tiny_base")}
    for module, targets in edges.items():
        if module.startswith(("rewards", "data")):
            assert not any(t.startswith("scripts") for t in targets), module
        # Below the library, one way only: data -> rewards (rewards.text holds the text helpers both use).
        if module.startswith("rewards"):
            assert not any(t.startswith("data") for t in targets), module
        if module.startswith("scripts.lib"):
            assert not any(t in entry for t in targets), module
    assert not any(m.startswith("scripts.lib") for m in entry), "a library module runs as a command"


def test_the_core_never_imports_the_benchmarks():
    # scripts/bench/ (benchmarks, the GPU check and their helpers) sits beside the entry points: the
    # library and the packages below it work without it.
    edges, entry = _graph()
    core = [m for m in edges if m.startswith(("scripts.lib", "rewards", "data"))]
    bad = sorted((m, t) for m in core for t in edges[m] if t.startswith("scripts.bench"))
    assert bad == [], f"core modules importing the benchmarks: {bad}"
    bench_entry = {m for m in entry if m.startswith("scripts.bench.")}
    assert bench_entry == {f"scripts.bench.{n}" for n in ("aha", "train", "rewards", "math", "gpu", "gpu_check", "hostile", "faults", "smollm", "search_orders")}


def test_no_library_module_shares_an_entry_points_name():
    # `scripts/export.py` over `scripts/lib/export.py` reads as one file to a newcomer.
    edges, entry = _graph()
    # A stage's folder may be named for the command that runs it (scripts/preflight.py over
    # scripts/lib/preflight/); a module file may not.
    names = {m.rpartition(".")[2] for m in entry if m.count(".") == 1}  # scripts/<name>.py
    files = {m for m, path in _modules().items() if path.name != "__init__.py"}
    assert sorted(m for m in files if m.startswith("scripts.lib.") and m.rpartition(".")[2] in names) == []


def test_an_unknown_reward_setting_is_an_error_naming_it():
    from rewards import UnknownRewardError, get_reward

    with pytest.raises(UnknownRewardError, match="`allow_subset`"):
        get_reward("gsm8k_accuracy_reward", allow_subset=True)
    with pytest.raises(UnknownRewardError, match="`ngram_size`"):
        get_reward("format_reward", ngram_size=3)


def test_a_recipe_setting_no_selected_reward_uses_is_an_error_naming_it(tmp_path, monkeypatch):
    from scripts.lib.recipe.cli import RecipeError
    from scripts.lib.recipe.parsing import parse_recipe

    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model_name_or_path: x\nbf16: false\ntask: countdown\noutput_dir: " + str(tmp_path / "o")
                      + "\nreward_funcs: [format_reward, countdown_reward]\nrepetition_n_grams: 2\n")
    with pytest.raises(RecipeError, match="`repetition_n_grams`.*repetition_penalty_reward"):
        parse_recipe(["--config", str(recipe)])
    # The same setting with its reward selected is fine, and so is a default value left alone.
    recipe.write_text(recipe.read_text().replace("countdown_reward]", "countdown_reward, repetition_penalty_reward]"))
    script_args, _, _ = parse_recipe(["--config", str(recipe)])
    assert script_args.reward_settings()["repetition_penalty_reward"]["ngram_size"] == 2


def test_every_shipped_recipe_sets_only_settings_its_rewards_use():
    from scripts.lib.recipe.arguments import R1ZeroArguments
    from scripts.lib.recipe.yaml_file import load_recipe_yaml

    for path in sorted((ROOT / "recipes").glob("*.yaml")):
        recipe = load_recipe_yaml(str(path))
        keys = {f for f in R1ZeroArguments.__dataclass_fields__ if f in recipe}
        args = R1ZeroArguments(**{k: recipe[k] for k in keys})
        assert args.unused_reward_settings() == [], path.name


def test_prompts_render_one_way_with_chat_template_kwargs():
    # Everything under scripts/ renders a prompt through data.prompts.render_prompt.
    from data.prompts import render_prompt

    class Tokenizer:
        def apply_chat_template(self, messages, tokenize, add_generation_prompt, **kwargs):
            return f"{messages[-1]['content']}|{sorted(kwargs.items())}"

    assert render_prompt("plain", Tokenizer(), {"enable_thinking": False}) == "plain"
    assert render_prompt([{"role": "user", "content": "q"}], Tokenizer(), {"enable_thinking": False}) == \
        "q|[('enable_thinking', False)]"
    for module in (ROOT / "scripts").rglob("*.py"):
        if module.name in ("chat_audit.py", "hf_export.py"):
            continue  # on purpose: what a real template adds to a prompt; an export's template equals training's
        assert "apply_chat_template" not in module.read_text(), module


def _readme_map() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## How it fits together")
    return text[start:text.index("```\n\n", text.index("```\n", start) + 4)]


def _readme_map_blocks() -> dict[str, str]:
    """README's "How it fits together" map: folder name -> the text of its entry (continuation lines included)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("```\n", text.index("## How it fits together")) + 4
    blocks, name = {}, None
    for line in text[start:text.index("```\n", start)].splitlines():
        found = re.match(r"\s*([a-z_]+(?:/[a-z_]+)*)/\s", line + " ")
        if found:
            name = found.group(1).rpartition("/")[2]
            blocks[name] = ""
        if name:
            blocks[name] += line + "\n"
    return blocks


def listed_modules(block: str) -> set[str]:
    """The names an entry lists after its description (``stage: a, b (what b is), c + d``), asides dropped:
    a module's name that is also a word of the description (``checks``, ``aha``) must still be listed."""
    listed = block.partition(":")[2]
    while (bare := re.sub(r"\([^()]*\)", "", listed)) != listed:
        listed = bare
    return set(re.findall(r"[a-z0-9_]+", listed))


def test_the_readme_map_names_every_library_module_in_its_stage():
    # The map is drawn from the tree: a module added, moved or renamed without the map fails here, and so
    # does a name the map keeps after its module has gone.
    blocks = _readme_map_blocks()
    lib = ROOT / "scripts" / "lib"
    for folder in sorted(p for p in lib.rglob("*") if p.is_dir() and (p / "__init__.py").is_file()):
        assert folder.name in blocks, f"stage folder {folder.relative_to(lib)}/ missing from README's map"
        modules = {m.stem for m in folder.glob("*.py") if m.stem != "__init__"}
        assert listed_modules(blocks[folder.name]) == modules, f"{folder.relative_to(lib)}/ in README's map"


def test_the_readme_map_names_every_entry_point_and_data_and_rewards_module():
    blocks = _readme_map_blocks()
    assert listed_modules(blocks["scripts"]) == {p.stem for p in (ROOT / "scripts").glob("*.py") if p.stem != "__init__"}
    for folder in ("data", "rewards"):
        named = set(re.findall(r"([a-z0-9_]+)\.py", blocks[folder]))
        assert named == {p.stem for p in (ROOT / folder).glob("*.py") if p.stem != "__init__"}, folder


def test_library_folders_stay_small_and_modules_short():
    # A newcomer reads a folder at a glance and a module in one sitting.
    lib = ROOT / "scripts" / "lib"
    for folder in [lib, *(p for p in lib.rglob("*") if p.is_dir() and (p / "__init__.py").is_file())]:
        modules = [m for m in folder.glob("*.py") if m.stem != "__init__"]
        assert len(modules) <= 10, f"{folder.relative_to(ROOT)} holds {len(modules)} modules"
        for module in modules:
            lines = module.read_text(encoding="utf-8").count("\n")
            assert lines <= 400, f"{module.relative_to(ROOT)} has {lines} lines"
        if folder != lib:
            doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text(encoding="utf-8")))
            assert doc and len(doc) > 80, f"{folder.relative_to(ROOT)}/__init__.py needs a docstring saying its job"
