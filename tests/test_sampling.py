"""scripts/lib/models/sampling.py: completions end where TRL's GRPOTrainer ends them."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from scripts.lib.models.loading import load_tokenizer
from scripts.lib.models.sampling import sample_completions


class ScriptedModel:
    """Stands in for a causal LM whose ``generate`` writes fixed token ids after the prompt."""

    device = torch.device("cpu")
    training = False

    def __init__(self, new_ids, generation_eos):
        self.new_ids, self.generation_config = new_ids, SimpleNamespace(eos_token_id=generation_eos)
        self.eos_seen = None

    def eval(self):
        return self

    def train(self, mode=True):
        return self

    def generate(self, input_ids, attention_mask=None, eos_token_id=None, **kwargs):
        self.eos_seen, self.options = eos_token_id, kwargs
        tail = torch.tensor([self.new_ids] * input_ids.shape[0])
        return torch.cat([input_ids, tail], dim=1)


def test_a_completion_ends_at_the_generation_configs_eos_as_in_trl(tiny_model_dir):
    # Qwen2.5-Instruct: the tokenizer's eos is <|im_end|>, its generation_config.json stops at <|endoftext|>
    # too; TRL ends completions at either, so the held-out scores and preflight's samples must as well.
    tokenizer = load_tokenizer(str(tiny_model_dir))
    words = tokenizer("5 + 3", add_special_tokens=False)["input_ids"]
    other_eos = words[1]  # a token that only the model's generation_config calls an end
    model = ScriptedModel([words[0], other_eos, words[2], words[2]], generation_eos=[other_eos])
    texts, lengths = sample_completions(model, tokenizer, ["User: 2 + 3 . Assistant:"], max_new_tokens=4, greedy=True)
    assert lengths == [2]
    assert model.eos_seen == [tokenizer.eos_token_id, other_eos]


def test_export_keeps_every_eos_id_training_stopped_at():
    # Found rehearsing recipes/qwen2.5-0.5b-instruct_gsm8k.yaml with the real tokenizer: the export wrote
    # eos_token_id 151645 alone, dropping the <|endoftext|> (151643) that training stopped at too.
    from transformers import GenerationConfig

    from scripts.lib.models.hf_export import generation_config

    model = SimpleNamespace(generation_config=GenerationConfig(eos_token_id=[151645, 151643], pad_token_id=151643))
    tokenizer = SimpleNamespace(eos_token_id=151645, pad_token_id=151643)
    assert generation_config(model, tokenizer, {"temperature": 1.0}).eos_token_id == [151645, 151643]
    base = SimpleNamespace(generation_config=GenerationConfig(eos_token_id=151643))
    assert generation_config(base, SimpleNamespace(eos_token_id=151643, pad_token_id=151643), {}).eos_token_id == 151643


def test_sampling_never_takes_the_checkpoints_repetition_penalty(tiny_model_dir):
    # Qwen2.5-Instruct's generation_config.json sets repetition_penalty 1.1 (and top_k 20, top_p 0.8); generate()
    # falls back to it for what it is not given. TRL samples with its own (1.0): so must the held-out scores.
    tokenizer = load_tokenizer(str(tiny_model_dir))
    for greedy in (True, False):
        model = ScriptedModel([tokenizer.eos_token_id], generation_eos=None)
        sample_completions(model, tokenizer, ["User: 2 + 3 . Assistant:"], max_new_tokens=1, greedy=greedy)
        assert model.options["repetition_penalty"] == 1.0


def test_export_samples_without_the_checkpoints_repetition_penalty():
    from transformers import GenerationConfig

    from scripts.lib.models.hf_export import generation_config

    model = SimpleNamespace(generation_config=GenerationConfig(eos_token_id=[151645, 151643], repetition_penalty=1.1,
                                                               top_k=20, top_p=0.8, temperature=0.7, do_sample=True))
    config = generation_config(model, SimpleNamespace(eos_token_id=151645, pad_token_id=151643), {"temperature": 1.0})
    assert (config.repetition_penalty, config.top_k, config.top_p, config.temperature) == (1.0, 0, 1.0, 1.0)
