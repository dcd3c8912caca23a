"""The shared tiny-model fixture loads and generates (guards the fixture itself)."""
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def test_tiny_model_roundtrip(tiny_model_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    ids = tokenizer("She go to school .", return_tensors="pt")
    assert tokenizer.decode(ids["input_ids"][0]) == "She go to school ."
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=3, do_sample=False)
    assert out.shape[1] == ids["input_ids"].shape[1] + 3
