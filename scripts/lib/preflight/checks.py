"""Preflight: catch the silent dead runs before they cost GPU hours.

The failures R1-Zero users report most are not crashes but runs that cannot learn: a format reward
that is always 0 because the template pre-fills ``<think>`` where the reward cannot see it
(open-r1 #235/#256), an accuracy reward stuck at 0 because gold answers never parse (TRL #3903),
completions cut at ``max_completion_length`` (open-r1 #363), groups whose rewards are all equal so
the advantage and the loss are 0 (TRL #3452), an OOM hundreds of steps in. Each check below is a
function that returns a ``Section``; ``make train`` runs the fast ones (``preflight_or_stop``),
``make preflight`` (``scripts/preflight.py``) runs them all. This module only runs them; each check is
its own module of ``scripts/lib/preflight/`` (named below).

    make preflight RECIPE=recipes/cpu_countdown_tiny.yaml
    python -m scripts.preflight --config recipes/cpu_countdown_tiny.yaml --samples 16   # + model sample

Checks:

* **template** (``template``): a prompt rendered exactly as TRL will (template, chat template with
  ``chat_template_kwargs``, prefill), followed by probe completions — a correct one in the expected
  format, a wrong answer, one with the opening ``<think>`` toggled, no tags, empty. Every format and
  accuracy reward must give the correct completion its highest score and must not score all probes
  alike; the accuracy reward must give the wrong answer its lowest.
* **data** (``data``): rows dropped at load, kept rows whose gold the accuracy reward cannot check (``None``)
  or scores wrong, empty prompts, prompts that do not fit the model's context with
  ``max_completion_length`` (TRL 1.16 has no ``max_prompt_length``: nothing truncates them), held-out
  prompts that are also training prompts.
* **samples** (``samples``, ``--samples N``): N prompts x ``num_generations`` completions from the starting model,
  scored with the recipe's rewards: format rate, accuracy, truncation rate, and the share of groups
  whose rewards are all equal (TRL logs it as ``frac_reward_zero_std``: no learning signal).
* **resources** (``resources``, ``memory``): parameters, LoRA, and a rough per-device memory estimate
  against the GPU present.
* **setup** (``resources.check_setup``): known traps of the GRPO/vLLM/PEFT settings (``traps``): vLLM
  colocated with PEFT on several GPUs, vLLM server mode with no server, a generation batch that does not
  split into groups on a common GPU count, stop strings with ``mask_truncated_completions``.
* **chat** (``chat_audit``): what a real tokenizer's chat template adds or hides (injected text, special-token
  tags, a turn end that is not eos, a ``<think>`` the samples never open).

A failed check stops ``make train`` with one line and exit code 2; ``preflight: false`` in a
recipe skips it.
"""

from __future__ import annotations

from data.prompts import build_r1_zero_prompt
from rewards import ACCURACY_REWARD_FOR_TASK, get_reward
from scripts.lib.preflight.chat_audit import check_chat
from scripts.lib.preflight.data import check_dataset, context_limit
from scripts.lib.preflight.report import PreflightFailed, Report, Section
from scripts.lib.preflight.resources import check_resources, check_setup
from scripts.lib.preflight.samples import check_samples
from scripts.lib.preflight.template import check_template, reward_name
from scripts.lib.process.console import say
from scripts.lib.recipe.arguments import chat_template_kwargs


def run_checks(script_args, training_args, model_args, tokenizer, model_config, train_rows, holdout_rows,
               skipped: int, reward_funcs, model=None, samples: int = 0) -> Report:
    """Every check for a recipe, its data and rewards; the model sample only when ``samples`` > 0."""
    kwargs = chat_template_kwargs(training_args)
    accuracy_name = ACCURACY_REWARD_FOR_TASK[script_args.task]
    accuracy = next((f for f in reward_funcs if reward_name(f) == accuracy_name), None) \
        or get_reward(accuracy_name, **script_args.reward_settings()[accuracy_name])
    sections = [check_template(train_rows, reward_funcs, tokenizer, script_args.task, kwargs,
                               training_args.max_completion_length)]
    data = check_dataset(
        train_rows, holdout_rows, skipped, script_args.task, accuracy, tokenizer, training_args.max_completion_length,
        context_limit(model_config, training_args),
        empty_prompt=build_r1_zero_prompt("", script_args.prompt_template, script_args.system_prompt),
        chat_template_kwargs=kwargs,
    )
    sections.append(data)
    if samples:
        if model is None:
            raise ValueError("samples > 0 needs the model")
        sections.append(check_samples(
            model, tokenizer, train_rows[:samples], reward_funcs, script_args.task, training_args.num_generations,
            training_args.max_completion_length, temperature=training_args.temperature, seed=training_args.seed,
            reward_weights=training_args.reward_weights, reward_settings=script_args.reward_settings(),
            top_k=training_args.top_k, top_p=training_args.top_p, chat_template_kwargs=kwargs,
            reflection_phrases=script_args.reflection_phrases,
        ))
    else:
        sections.append(Section("samples", "skipped (--samples N samples the starting model)"))
    sections.append(check_chat(train_rows[0]["prompt"], tokenizer, reward_funcs, kwargs,
                               sections[-1].counts.get("texts")))
    sections.append(check_resources(model_config, training_args, model_args, data.counts["longest_prompt_tokens"],
                                    script_args.peft_config(model_args)))
    sections.append(check_setup(training_args, model_args))
    return Report(sections)


def preflight_or_stop(script_args, training_args, model_args, model, tokenizer, train_rows, holdout_rows,
                      skipped: int, reward_funcs) -> Report:
    """The fast checks at the start of ``make train``: print the report, raise PreflightFailed on a failure."""
    report = run_checks(script_args, training_args, model_args, tokenizer, model.config, train_rows, holdout_rows,
                        skipped, reward_funcs)
    say(report.render())  # rank 0 only (scripts/lib/process/distributed.py)
    if report.failures:
        raise PreflightFailed(
            f"preflight: {report.failures[0]} (report above; `preflight: false` in the recipe skips it)")
    return report
