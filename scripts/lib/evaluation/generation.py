"""Generate functions: how every command turns prompts into completions.

A generate function is any callable ``generate(prompts, samples_per_prompt, greedy) -> (texts,
token_lengths)`` returning ``len(prompts) * samples_per_prompt`` completions, prompt-major (all samples
of prompt 0 first). ``HFGenerator`` wraps transformers' ``generate`` (training's before/after table,
the in-training eval, ``make eval`` without ``--use_vllm``); ``VLLMGenerator`` wraps vLLM (``make eval --use_vllm``);
``ModelGenerators`` loads a model by name and gives its generate function. Prompts are rendered with
``data.prompts.render_prompt``, the way training renders them (``chat_template_kwargs`` included).
"""

from __future__ import annotations

from data.prompts import render_prompt
from scripts.lib.models.loading import load_model_tokenizer, load_trained, model_kind
from scripts.lib.process.distributed import gather, local_rank, lockstep_generation, share, world_size
from scripts.lib.models.sampling import completion_seed, sample_completions


class HFGenerator:
    """Batched ``model.generate`` as a generate function, one seed per completion.

    Sample ``j`` of the prompt at position ``start + i`` of the full list is drawn from its own stream,
    ``completion_seed(seed, start + i, j)``: a completion does not depend on its batch or on how
    many processes share the prompts (``across_ranks``). ``synced_gpus`` defaults to
    ``lockstep_generation()`` (ZeRO-3 / FSDP on several processes).
    """

    def __init__(self, model, tokenizer, max_new_tokens: int, temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0, seed: int = 0, batch_size: int = 64, progress: bool = False,
                 chat_template_kwargs: dict | None = None, synced_gpus: bool | None = None):
        self.model, self.tokenizer = model, tokenizer
        self.chat_template_kwargs = chat_template_kwargs
        self.max_new_tokens, self.temperature, self.top_k, self.top_p = max_new_tokens, temperature, top_k, top_p
        self.seed, self.batch_size, self.progress = seed, batch_size, progress
        self.synced_gpus = lockstep_generation() if synced_gpus is None else synced_gpus

    def __call__(self, prompts, samples_per_prompt: int = 1, greedy: bool = False, start: int = 0):
        repeated = [p for p in prompts for _ in range(samples_per_prompt)]
        seeds = [completion_seed(self.seed, start + i, j) for i in range(len(prompts)) for j in range(samples_per_prompt)]
        return sample_completions(
            self.model, self.tokenizer, repeated, self.max_new_tokens, temperature=self.temperature,
            seed=self.seed, batch_size=self.batch_size, greedy=greedy, progress=self.progress,
            top_k=self.top_k, top_p=self.top_p, chat_template_kwargs=self.chat_template_kwargs,
            desc="greedy" if greedy else f"sampling x{samples_per_prompt}", seeds=seeds,
            synced_gpus=self.synced_gpus,
        )


def across_ranks(generate):
    """``generate`` with the prompts shared across processes: each rank generates its own contiguous
    share (``distributed.share``; the last share padded with copies of a prompt, so every rank makes
    the same ``generate`` calls, as ZeRO-3's lockstep needs), then every rank gets all completions in
    order (``distributed.gather``). On one process, ``generate`` itself.

    ``generate`` takes ``start``: its prompts' position in the full list (``HFGenerator``'s seeds),
    so the completions equal a one-process run's, up to floating-point differences between batches
    of other shapes (see docs/scale.md).
    """
    if world_size() == 1:
        return generate

    def shared(prompts, samples_per_prompt: int = 1, greedy: bool = False):
        if not prompts:
            return [], []
        begin, stop, size = share(len(prompts))
        mine = list(prompts[begin:stop])
        padded = mine + [prompts[-1]] * (size - len(mine))
        texts, lengths = generate(padded, samples_per_prompt, greedy, start=begin)
        kept = len(mine) * samples_per_prompt
        parts = gather((texts[:kept], lengths[:kept]))
        return [t for part, _ in parts for t in part], [n for _, part in parts for n in part]

    return shared


class VLLMGenerator:
    """vLLM as a generate function: ``n`` samples per prompt in one call. ``plan``: an ``EvalSettings``."""

    def __init__(self, model_path: str, tokenizer, plan, progress: bool):
        from vllm import LLM  # vLLM is optional and heavy: imported only when used

        self.tokenizer, self.plan, self.progress = tokenizer, plan, progress
        self.llm = LLM(model=model_path, seed=plan.seed, dtype=plan.dtype,
                       gpu_memory_utilization=plan.vllm_gpu_memory_utilization)

    def __call__(self, prompts, samples_per_prompt: int = 1, greedy: bool = False):
        from vllm import SamplingParams

        plan = self.plan
        params = SamplingParams(n=samples_per_prompt, temperature=0.0 if greedy else plan.temperature,
                                top_k=plan.top_k if plan.top_k > 0 else -1, top_p=plan.top_p,
                                max_tokens=plan.max_new_tokens, seed=plan.seed)
        outputs = self.llm.generate([render_prompt(p, self.tokenizer, plan.chat_template_kwargs) for p in prompts], params,
                                    use_tqdm=self.progress)
        texts = [c.text for out in outputs for c in out.outputs]
        lengths = [len(c.token_ids) for out in outputs for c in out.outputs]
        return texts, lengths

    def close(self) -> None:
        import gc

        import torch

        del self.llm
        gc.collect()
        torch.cuda.empty_cache()


class ModelGenerators:
    """A model name's generate function (``make eval``'s default): load it, then vLLM or transformers.

    ``plan`` is an ``EvalSettings`` (decoding settings, dtype); ``release(generate)`` frees what
    ``__call__`` loaded before the next model.
    """

    def __init__(self, plan, use_vllm: bool = False, batch_size: int = 64, progress: bool = True):
        self.plan, self.use_vllm, self.batch_size, self.progress = plan, use_vllm, batch_size, progress
        self._tmp = None

    def __call__(self, name: str):
        import torch

        plan = self.plan
        kind = model_kind(name)
        if self.use_vllm and kind != "adapter":  # vLLM loads the weights itself
            return VLLMGenerator(name, load_model_tokenizer(name, kind), plan, self.progress)
        model, tokenizer = load_trained(name, kind, plan.dtype)
        model = model.to(f"cuda:{local_rank()}" if torch.cuda.is_available() else "cpu")  # NPROC: a GPU per rank
        if self.use_vllm:  # an adapter: vLLM gets the merged model as a folder
            import tempfile

            self._tmp = tempfile.TemporaryDirectory(prefix="eval-merged-")
            model.save_pretrained(self._tmp.name)
            tokenizer.save_pretrained(self._tmp.name)
            del model
            torch.cuda.empty_cache()
            return VLLMGenerator(self._tmp.name, tokenizer, plan, self.progress)
        return HFGenerator(model, tokenizer, plan.max_new_tokens, temperature=plan.temperature, top_k=plan.top_k,
                           top_p=plan.top_p, seed=plan.seed, batch_size=self.batch_size, progress=self.progress,
                           chat_template_kwargs=plan.chat_template_kwargs)

    def release(self, generate) -> None:
        if hasattr(generate, "close"):
            generate.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
