"""Shared test fixtures: the corpus mirror and a tiny Llama model built in code.

Tests never download: the tiny model is a 2-layer LlamaConfig with random weights
and a byte-level BPE tokenizer trained here on a few sentences.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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
    return save(LlamaForCausalLM(config), fast, out_dir)


def liven(model: Any, seed: int = 0) -> Any:
    """Larger random layer weights: a tiny model with tiny weights only ever repeats one
    token, so its outputs could not tell engines apart."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.model.layers.parameters():
            if param.dim() == 2:
                param.normal_(0.0, 0.1, generator=generator)
    return model


def save(model: Any, tokenizer: Any, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama model folder (config, safetensors, tokenizer), built once per session."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


def build_tiny_gemma(out_dir: Path, seed: int = 0) -> Path:
    """A tiny random Gemma 3 text model shaped like the pre-trained Gemma 3 270M base:
    its tokenizer adds `<bos>` itself, ends text with `<eos>`, knows `<end_of_turn>`, and
    has no chat template; the model ties its embeddings and mixes sliding-window and
    global attention layers."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, PreTrainedTokenizerFast

    special = ["<pad>", "<eos>", "<bos>", "<end_of_turn>", "<start_of_turn>"]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(TRAINING_TEXT * 4, trainer=trainers.BpeTrainer(
        vocab_size=340, special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", 2)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<bos>",
                                   eos_token="<eos>", pad_token="<pad>")
    torch.manual_seed(seed)
    config = Gemma3TextConfig(
        vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=1, head_dim=16, sliding_window=8,
        layer_types=["sliding_attention", "sliding_attention", "full_attention"],
        max_position_embeddings=512, bos_token_id=2, eos_token_id=1, pad_token_id=0,
        tie_word_embeddings=True)
    return save(liven(Gemma3ForCausalLM(config), seed), fast, out_dir)


@pytest.fixture(scope="session")
def tiny_gemma_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_gemma(tmp_path_factory.mktemp("tiny-gemma"))


@pytest.fixture(scope="session")
def lively_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with larger random layer weights: the shared one (tied embeddings,
    tiny weights) only ever repeats its last prompt token, a newline, which the output
    cleaning then removes; this one writes varied text, so comparisons can fail."""
    import torch

    from stages.lib.model.models import load_system

    model, tokenizer = load_system(tiny_model_dir, None, torch.float32)
    return save(liven(model), tokenizer, tmp_path_factory.mktemp("lively-model"))


def pytest_configure(config: pytest.Config) -> None:
    """Stages run by session- and module-scoped fixtures (set up before any function's
    `timings_apart`) keep their times in a temporary folder too, never in the checkout's
    .cache/timings, which `writing-alpaca timings` reports as the pipeline's."""
    import tempfile

    os.environ["WRITING_ALPACA_TIMINGS"] = tempfile.mkdtemp(prefix="writing-alpaca-timings-")


@pytest.fixture(autouse=True)
def timings_apart(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                  ) -> None:
    """Stages the tests run keep their wall-clock times in a temporary folder, not in the
    checkout's .cache/timings (subprocesses inherit the variable)."""
    monkeypatch.setenv("WRITING_ALPACA_TIMINGS", str(tmp_path_factory.mktemp("timings")))
