"""R1-Zero GRPO training: a base model learns <think>/<answer> and accuracy from rule-based rewards.

Reads top to bottom: recipe -> seed -> data -> rewards -> (tiny base) -> model + tokenizer ->
held-out "before" -> GRPOTrainer -> train -> save -> held-out "after".

    make train                                   # the CPU default: recipes/cpu_countdown_tiny.yaml
    make train RECIPE=recipes/qwen2.5-0.5b-instruct_gsm8k.yaml
    python -m scripts.train --config recipes/cpu_countdown_tiny.yaml --max_steps 50   # flags override the YAML

TensorBoard curves go to ``<output_dir>/runs/train/`` (one run, however often it is resumed), checkpoints
to ``<output_dir>/checkpoint-N``.
A recipe mistake prints one line and exits with code 2 (``--debug`` shows the traceback); so does a
reward that raises or miscounts mid-run, after saving a checkpoint (scripts/lib/training/reward_guard.py). Health
alarms (scripts/lib/training/health_monitor.py) are printed as they come; with ``health_stop: true`` the run stops at
the next checkpoint, exit code 3.
"""

from __future__ import annotations

import logging
import sys

from datasets import Dataset
from transformers import PrinterCallback, ProgressCallback, set_seed
from trl import GRPOTrainer

from data.prompts import trl_prompt
from rewards import get_rewards
from scripts.lib.recipe.cli import run_cli
from scripts.lib.recipe.arguments import chat_template_kwargs
from scripts.lib.recipe.parsing import parse_recipe
from scripts.lib.process.console import say
from scripts.lib.process.distributed import quiet_other_ranks, remember_peers, shut_down
from scripts.lib.evaluation.before_after import HeldOutEvalCallback, before_scores, held_out_scores, show_before_after
from scripts.lib.training.health_monitor import HealthMonitor
from scripts.lib.recipe.hub import check_available
from scripts.lib.models.loading import load_model_and_tokenizer
from scripts.lib.models.tiny_base.build import build_base_if_needed
from scripts.lib.models.tiny_base.task import tiny_base_plan
from scripts.lib.preflight.checks import preflight_or_stop
from scripts.lib.training.reward_guard import checkpoint_on_reward_failure, guard_rewards
from scripts.lib.runs.resume import finished_message, report_only_untied_missing_keys, resolve_resume, resumed_step
from scripts.lib.runs.disk import stop_on_full_disk
from scripts.lib.runs.output_lock import hold_output_dir
from scripts.lib.runs.stopping import GracefulStop, stop_on_lost_peer
from scripts.lib.training.aha_tracker import AhaTracker
from scripts.lib.training.console_log import ConsoleLog, quiet_checkpoint_saves
from scripts.lib.training.writers import log_into_one_tensorboard_run


def main(argv=None) -> int:
    script_args, training_args, model_args = parse_recipe(argv)
    command = sys.argv[1:] if argv is None else argv
    # One run per output_dir: a second one is refused at once (the lock dies with its process). On several
    # processes, another rank's death ends this one in a line naming it, not a hang or a traceback.
    with hold_output_dir(training_args.output_dir), stop_on_lost_peer():
        code = train(script_args, training_args, model_args, command)
        # Every rank returns here together (stops are agreed). Ending the process group before the
        # interpreter ends keeps gloo's threads from aborting a finished rank (exit -6, seen in CI).
        shut_down()
        return code


def train(script_args, training_args, model_args, command: list[str]) -> int:
    # Before anything loads: a refused output_dir or a broken resume path costs seconds.
    resume = resolve_resume(script_args.resume, training_args.output_dir)
    if resume and (done := finished_message(resume, training_args.max_steps, training_args.output_dir)):
        print(done)
        return 0
    # Likewise a hub model or dataset that is neither cached nor reachable (scripts/lib/recipe/hub.py).
    check_available(script_args, model_args)

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    quiet_other_ranks()  # several processes: rank 0 prints what a person reads (scripts/lib/process/distributed.py)
    set_seed(training_args.seed)

    # Data and rewards before the model: a bad row or reward name must not cost a model load.
    train_rows, holdout_rows, skipped = script_args.build_dataset(training_args.seed)
    if skipped:
        say(f"data: skipped {skipped} rows with no usable gold answer (on_bad_row: skip)")
    say(f"data: {len(train_rows)} training prompts, {len(holdout_rows)} held-out")

    reward_funcs = get_rewards(script_args.reward_names(), script_args.reward_settings())

    if tiny_base := tiny_base_plan(script_args, training_args, model_args):
        build_base_if_needed(tiny_base, progress=not training_args.disable_tqdm)
    model, tokenizer = load_model_and_tokenizer(model_args, training_args)
    if script_args.preflight:  # seconds, no sampling: stops a run that cannot learn (scripts/lib/preflight/checks.py)
        preflight_or_stop(script_args, training_args, model_args, model, tokenizer, train_rows, holdout_rows,
                          skipped, reward_funcs)

    # The held-out prompts answered before training, to compare with after: scored once, at the run's
    # start, and kept in output_dir for every resume (scripts/lib/evaluation/before_after.py).
    held_out = (model, tokenizer, holdout_rows, script_args, training_args)
    before = before_scores(resume, *held_out)

    # A pre-filled assistant turn (`chat_think`) reaches TRL as text, or TRL would close it unseen.
    template_kwargs = chat_template_kwargs(training_args)
    trl_rows = [{**row, "prompt": trl_prompt(row["prompt"], tokenizer, template_kwargs)} for row in train_rows]
    # LoRA on the top layers only (lora_layers_to_transform): backward stops there.
    peft_config = script_args.peft_config(model_args)
    # A reward that raises or miscounts mid-run stops it with a checkpoint instead of a traceback.
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=guard_rewards(reward_funcs),
        args=training_args,
        train_dataset=Dataset.from_list(trl_rows),
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    # Every segment of a stopped and resumed run logs into one TensorBoard run (scripts/lib/training/writers.py),
    # and a resume loads a tied lm_head without calling it missing (scripts/lib/runs/resume.py).
    log_into_one_tensorboard_run(trainer, resumed_step(resume) if resume else None)
    report_only_untied_missing_keys(trainer)
    AhaTracker(script_args.task, train_rows, script_args.reflection_phrases,
               log_samples_every=script_args.log_samples_every, samples_per_log=script_args.log_samples_count,
               aha_settings=script_args.aha_settings(),
               command=command).attach(trainer)
    if script_args.holdout_eval_steps:  # `make eval`'s numbers during training, under eval/ in TensorBoard
        HeldOutEvalCallback.from_recipe(script_args, training_args, holdout_rows, tokenizer).attach(trainer)

    # A one-line summary per step replaces the Trainer's printed metrics dict (all of it is in TensorBoard).
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(ConsoleLog(show_bar=not training_args.disable_tqdm))

    # Alarms when the run stops learning (scripts/lib/training/health_monitor.py); `health_stop: true` ends it at a
    # checkpoint.
    health = HealthMonitor.from_recipe(script_args, training_args).attach(trainer) if script_args.health else None

    remember_peers()  # every rank's pid, to name one that dies (scripts/lib/process/distributed.py)
    if resume:
        say(f"resuming from {resume}")
    stop = GracefulStop()
    trainer.add_callback(stop)
    # A full disk during a save: one line naming the folder and its free space, exit 2.
    with (stop_on_full_disk(training_args.output_dir), checkpoint_on_reward_failure(trainer, command),
          stop.installed(), quiet_checkpoint_saves()):
        trainer.train(resume_from_checkpoint=resume)
    if stop.signum:
        if trainer.accelerator.is_main_process:
            print(stop.report(training_args.output_dir, trainer.state.global_step, trainer.state.max_steps,
                              command))
        return stop.exit_code
    if health is not None and health.stopped_at is not None:
        if trainer.accelerator.is_main_process:
            print(health.report(training_args.output_dir, trainer.state.global_step, trainer.state.max_steps, command))
        return 3
    with stop_on_full_disk(training_args.output_dir), quiet_checkpoint_saves():
        trainer.save_model(training_args.output_dir)

    after = held_out_scores("after", *held_out)
    if before and after and trainer.accelerator.is_main_process:
        show_before_after(training_args.output_dir, before, after, holdout_rows)
    if trainer.accelerator.is_main_process:
        print(f"\ncheckpoints: {training_args.output_dir}/checkpoint-*   final model: {training_args.output_dir}")
        print(f"TensorBoard:  tensorboard --logdir {training_args.output_dir}   (or: make tensorboard)")
    return 0


def run(argv=None) -> int:
    return run_cli(main, argv)


if __name__ == "__main__":
    sys.exit(run())
