"""Shared test fixtures: the corpus mirror and a tiny Llama model built in code.

Tests never download: the tiny model is a 2-layer LlamaConfig with random weights
and a byte-level BPE tokenizer trained here on a few sentences.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def mirror_path() -> Path | None:
    """The corpus mirror: $WRITING_ALPACA_MIRROR, else ../shared/corpora beside the repo."""
    env = os.environ.get("WRITING_ALPACA_MIRROR")
    candidate = Path(env) if env else REPO_ROOT.parent / "shared" / "corpora"
    return candidate if (candidate / "MANIFEST.json").is_file() else None


@pytest.fixture(scope="session")
def mirror() -> Path:
    path = mirror_path()
    if path is None:
        pytest.skip("corpus mirror not found: set WRITING_ALPACA_MIRROR or place ../shared/corpora")
    return path


TRAINING_TEXT = [
    ("Below is an instruction that describes a task, paired with an input that provides "
     "further context. Write a response that appropriately completes the request."),
    "### Instruction:", "### Input:", "### Response:",
    "Fix grammatical errors in the text.", "Make the text more fluent.",
    "Simplify the text.", "Neutralize the text.", "Paraphrase the text.",
    "She go to school yesterday .", "She went to school yesterday .",
    "The cat sat on the mat. The dog barked at the cat.",
]


def build_tiny_model(out_dir: Path, vocab_size: int = 320, seed: int = 0) -> Path:
    """Save a tiny random Llama causal LM with its tokenizer to `out_dir`; returns it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>", "<|pad|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(TRAINING_TEXT * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="<|endoftext|>", pad_token="<|pad|>",
        bos_token="<|endoftext|>",
    )
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id, tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    fast.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama model folder (config, safetensors, tokenizer), built once per session."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def lively_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with larger random layer weights: the shared one (tied embeddings,
    tiny weights) only ever repeats its last prompt token, a newline, which the output
    cleaning then removes; this one writes varied text, so comparisons can fail."""
    import torch

    from stages.lib.model.models import load_system

    model, tokenizer = load_system(tiny_model_dir, None, torch.float32)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.model.layers.parameters():
            if param.dim() == 2:
                param.normal_(0.0, 0.1, generator=generator)
    out = tmp_path_factory.mktemp("lively-model")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(autouse=True)
def timings_apart(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                  ) -> None:
    """Stages the tests run keep their wall-clock times in a temporary folder, not in the
    checkout's .cache/timings (subprocesses inherit the variable)."""
    monkeypatch.setenv("WRITING_ALPACA_TIMINGS", str(tmp_path_factory.mktemp("timings")))
