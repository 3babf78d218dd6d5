"""Stopping a run cleanly: on a signal, or after an error, at a checkpoint the same command resumes from.

``GracefulStop`` (a ``TrainerCallback``): the first Ctrl-C / SIGTERM lets the current optimizer
step finish, saves ``checkpoint-<step>`` through the Trainer's own checkpointing (model,
optimizer, scheduler, RNG, trainer state), ends training so TensorBoard's writer is closed, and
``scripts/train.py`` then prints the checkpoint and the resume command (``stop_report``) and exits
130 / 143. A second signal exits at once, without saving. ``save_checkpoint_now`` saves the last
finished step after an error; ``agreed_max`` makes every rank stop at the same step.
``stop_on_lost_peer``: another rank's death ends this one at once, in one line naming the dead rank.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

from transformers import TrainerCallback

from scripts.lib.process.distributed import dead_peer_reason, error_prefix, is_main, lost_peer_reason, world_size
from scripts.lib.runs.resume import checkpoint_problem, last_complete_checkpoint, resume_command

def agreed_max(value: int, device) -> int:
    """The largest ``value`` over all processes (a no-op in a single process): a stop every rank agrees on."""
    import torch
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        flag = torch.tensor([value], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return int(flag.item())
    return value


class GracefulStop(TrainerCallback):
    """First SIGINT / SIGTERM: finish the step, save a checkpoint, stop. A second one: exit at once.

    Use ``with stop.installed(): trainer.train()``; afterwards ``stop.signum`` says whether (and by
    which signal) training was interrupted, and ``stop.exit_code`` is the shell's 128 + signal.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict = {}

    @property
    def exit_code(self) -> int:
        return 128 + self.signum if self.signum else 0

    @contextmanager
    def installed(self):
        # Python delivers signals to the main thread only; elsewhere keep the default behaviour.
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        try:
            yield self
        finally:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
            self._previous.clear()

    def _handle(self, signum, frame):
        name = signal.Signals(signum).name
        if reason := dead_peer_reason():  # torchrun's SIGTERM after another rank died: no step can finish
            _stop_for_lost_peer(reason)
        if self.signum is not None:
            print(f"\n{name} again: exiting now, without saving this step", file=sys.stderr, flush=True)
            # os._exit, not an exception: nothing may catch it or run more training code first.
            os._exit(128 + signum)
        self.signum = signum
        if is_main():
            print(f"\n{name}: finishing this step, then saving a checkpoint (press Ctrl-C again to quit at once)",
                  file=sys.stderr, flush=True)

    def _agreed_signal(self, args) -> int | None:
        # Ranks can receive the signal at different steps; all must stop at the same one, or the
        # rank that stops first leaves the others waiting forever in the checkpoint's collectives.
        self.signum = agreed_max(self.signum or 0, args.device) or None
        return self.signum

    def on_step_end(self, args, state, control, **kwargs):
        if self._agreed_signal(args):
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_save(self, args, state, control, **kwargs):
        # A signal that arrived during a scheduled save: that checkpoint is the current step's.
        if self._agreed_signal(args):
            control.should_training_stop = True
        return control

    def report(self, output_dir: str, global_step: int, max_steps: int, argv: list[str]) -> str:
        """What to tell the user after an interrupted ``trainer.train()``."""
        return stop_report(signal.Signals(self.signum).name, output_dir, global_step, max_steps, argv)


def stop_report(by: str, output_dir: str, global_step: int, max_steps: int, argv: list[str]) -> str:
    """The checkpoint a stopped run left and the command that resumes it (a signal, a reward error, health_stop)."""
    checkpoint = Path(output_dir) / f"checkpoint-{global_step}"
    if checkpoint_problem(checkpoint) is not None:
        checkpoint = last_complete_checkpoint(output_dir)
    if checkpoint is None:
        return f"stopped by {by} at step {global_step}/{max_steps}; no complete checkpoint was saved"
    return (f"stopped by {by} at step {global_step}/{max_steps}; saved {checkpoint}\n"
            f"resume with: {resume_command(argv, str(checkpoint))}\n"
            "(or rerun the same command: with `resume: auto` it continues from the newest complete checkpoint)")


def save_checkpoint_now(trainer) -> None:
    """Save ``checkpoint-<global_step>`` after an error ended ``trainer.train()`` mid-step, then end training.

    The same Trainer calls as the save ``GracefulStop`` asks for (``_save_checkpoint``, then the callbacks'
    ``on_save``), with the state of the last finished step: the failed step's update never happened. Nothing
    is saved before the first step, or when that step's checkpoint is already complete. ``on_train_end``
    then lets the callbacks close what they hold open (TensorBoard's event file). With several processes,
    an error on one rank only leaves the others waiting in their next collective (not handled here).
    """
    state = trainer.state
    if state.global_step > 0 and checkpoint_problem(Path(trainer.args.output_dir) / f"checkpoint-{state.global_step}"):
        trainer._save_checkpoint(trainer.model_wrapped, trial=None)
        trainer.control = trainer.callback_handler.on_save(trainer.args, state, trainer.control)
    trainer.control = trainer.callback_handler.on_train_end(trainer.args, state, trainer.control)


@contextmanager
def stop_on_lost_peer():
    """Around a run on several processes: another rank's death ends this rank at once, with one line naming
    the dead rank: when a collective fails for it, or when torchrun's SIGTERM to the survivors (sent within
    its 0.1 s monitor interval) comes first, whatever this rank is doing then.

    Not by raising: this rank can neither end its process group cleanly (``shut_down``'s barrier would wait
    for the dead rank) nor exit normally (Python's exit with gloo's threads still running can abort in C++),
    and a SIGTERM with its default action would end it before the line. So: the line, then ``os._exit(2)``.
    """
    watch = world_size() > 1 and threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum, frame):
        if reason := dead_peer_reason():
            _stop_for_lost_peer(reason)
        if callable(previous):  # any other SIGTERM: what it did before
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    if watch:
        signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    except Exception as err:  # noqa: BLE001 - re-raised unchanged unless another rank's death caused it
        reason = lost_peer_reason(err)
        if reason is None:
            raise
        _stop_for_lost_peer(reason)
    finally:
        if watch:
            signal.signal(signal.SIGTERM, previous)


def _stop_for_lost_peer(reason: str) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.stdout.flush()
    print(f"{error_prefix()}: {reason}", file=sys.stderr, flush=True)
    os._exit(2)
