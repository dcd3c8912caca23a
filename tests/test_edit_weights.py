"""Edit-weighted MLE (train.edit_weight): the word diff, the weights' way through TRL's
tokenization, packing and collation, and the loss they give (tiny model, CPU)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch
from datasets import Dataset

from stages.lib.data.prompts import format_example
from stages.lib.training.edit_weights import changed_spans, token_weights
from stages.train import build_trainer, parse_train

GRAMMAR = "Fix grammatical errors in the text."
PAIR = ("She go to school yesterday .", "She went to school yesterday .")


def words_at(text: str, spans: list[tuple[int, int]]) -> list[str]:
    return [text[start:end] for start, end in spans]


@pytest.mark.parametrize("source, target, changed", [
    (*PAIR, ["went"]),
    ("She go school .", "She goes to school .", ["goes", "to"]),  # replace + insert
    ("She did go to school .", "She went to school .", ["went"]),
    ("a b c d", "a c d", []),                                 # a deletion weighs nothing
    ("  same  text ", "same text", []),                       # whitespace is not an edit
    ("", "Paris is the capital of France.", []),              # no source: a generic row
    ("x y", "  p   q  ", ["p", "q"]),
])
def test_changed_spans_are_the_replaced_and_inserted_target_words(
        source: str, target: str, changed: list[str]) -> None:
    assert words_at(target, changed_spans(source, target)) == changed


def test_long_texts_are_not_auto_junked() -> None:
    """difflib's autojunk would call frequent words of a 200+ word text junk: one edit in
    a long paragraph must stay one edit."""
    source = " ".join(["the cat sat on the mat ."] * 40)
    target = source.replace("sat", "sits", 1)
    assert words_at(target, changed_spans(source, target)) == ["sits"]


def test_token_weights_follow_character_overlap() -> None:
    #          prompt   " w"    "ent"   " to"   eos
    offsets = [(0, 5), (5, 7), (7, 10), (10, 13), (13, 20)]
    weights = token_weights(offsets, [False, True, True, True, True], [(6, 10)], 3.0)
    assert weights == [0.0, 3.0, 3.0, 1.0, 1.0]
    # a token that only touches a span (ends where it starts) is not in it
    assert token_weights([(2, 6), (10, 12)], [True, True], [(6, 10)], 3.0) == [1.0, 1.0]


def write_rows(folder: Path, pairs: list[tuple[str, str, str]]) -> Path:
    """A mixture folder of (instruction, source, target) rows; generic rows have no source."""
    rows = [{"id": f"r{i}", "corpus": "c", "task": "grammar",
             **format_example(instruction, source, target),
             "source": source}
            for i, (instruction, source, target) in enumerate(pairs)]
    folder.mkdir(parents=True, exist_ok=True)
    Dataset.from_list(rows).to_parquet(str(folder / "train.parquet"))
    return folder


VARIED = [
    (GRAMMAR, *PAIR),
    (GRAMMAR, "The cat sat on the mat.", "The cat sat on the mat."),   # unchanged
    ("Make the text more fluent.", "The dog barked at the cat.", "The dog barks at a cat."),
    ("Simplify the text.", "She go school yesterday .", "She went to school ."),
    ("Paraphrase the text.", "", "The cat sat on the mat. The dog barked at the cat."),
    (GRAMMAR, "The cat sat on the mat. The dog barked at the cat.",
     "A cat sat on the mat. The dog barked."),
] * 2


def trainer_for(tmp_path: Path, base: Path, mixture: Path, **train: object):
    params = {"max_steps": 1, "per_device_batch_size": 4, "global_batch_size": 4,
              "learning_rate": 1e-2, "dtype": "float32", "max_length": 1024, **train}
    cfg = parse_train({"train": params})
    return build_trainer(cfg, mixture, base, tmp_path / f"run-{len(list(tmp_path.iterdir()))}")


def test_weight_lands_on_the_edited_word_only(tmp_path: Path, tiny_model_dir: Path) -> None:
    mixture = write_rows(tmp_path / "mix", [(GRAMMAR, *PAIR)])
    trainer = trainer_for(tmp_path, tiny_model_dir, mixture, edit_weight=3.0, packing=False)
    tokenizer = trainer.processing_class
    row = trainer.train_dataset[0]
    ids, labels, weights = row["input_ids"], row["labels"], row["edit_weights"]
    assert len(ids) == len(labels) == len(weights)
    heavy = [i for i, w in zip(ids, weights) if w == 3.0]
    assert tokenizer.decode(heavy) == " went"
    prompt = [w for label, w in zip(labels, weights) if label == -100]
    completion = [(i, w) for i, label, w in zip(ids, labels, weights) if label != -100]
    assert prompt and set(prompt) == {0.0}  # not in the loss
    assert tokenizer.decode([i for i, _ in completion]) == PAIR[1] + tokenizer.eos_token
    assert completion[-1] == (tokenizer.eos_token_id, 1.0)  # TRL's EOS weighs 1
    assert sorted({w for _, w in completion}) == [1.0, 3.0]
    assert sum(w == 3.0 for _, w in completion) == len(heavy) >= 1
    # the collated batch carries the same weights, 0 off the labels
    batch = next(iter(trainer.get_train_dataloader()))
    assert torch.equal(batch["edit_weights"][0], torch.tensor(weights))
    assert (batch["edit_weights"][batch["labels"] == -100] == 0).all()


def completion_pairs(trainer) -> Counter:
    """(token, weight) of every completion token over one pass of the dataloader."""
    pairs: Counter = Counter()
    for batch in trainer.get_train_dataloader():
        in_loss = batch["labels"] != -100
        pairs.update(zip(batch["input_ids"][in_loss].tolist(),
                         batch["edit_weights"][in_loss].tolist()))
    return pairs


def test_packing_keeps_each_token_with_its_weight(tmp_path: Path, tiny_model_dir: Path) -> None:
    mixture = write_rows(tmp_path / "mix", VARIED)
    packed = trainer_for(tmp_path, tiny_model_dir, mixture, edit_weight=3.0, packing=True)
    unpacked = trainer_for(tmp_path, tiny_model_dir, mixture, edit_weight=3.0, packing=False)
    assert len(packed.train_dataset) < len(unpacked.train_dataset) == len(VARIED)
    assert "position_ids" in next(iter(packed.get_train_dataloader()))  # padding-free
    got, want = completion_pairs(packed), completion_pairs(unpacked)
    assert got == want
    assert Counter(w for (_, w), n in want.items() for _ in range(n))[3.0] > 10


def test_preparation_is_trls_own(tmp_path: Path, tiny_model_dir: Path) -> None:
    """Tokens, labels and packing are exactly plain SFTTrainer's; only the weights are new."""
    mixture = write_rows(tmp_path / "mix", VARIED)
    for packing in (True, False):
        plain = trainer_for(tmp_path, tiny_model_dir, mixture, packing=packing)
        weighted = trainer_for(tmp_path, tiny_model_dir, mixture, packing=packing,
                               edit_weight=3.0)
        assert type(plain).__name__ == "SFTTrainer"
        model_columns = ["input_ids", "labels", *(["seq_lengths"] if packing else [])]
        assert sorted(weighted.train_dataset.column_names) == \
            sorted([*model_columns, "edit_weights"])
        # (unpacked, plain TRL keeps the text columns too, for the Trainer to drop)
        assert weighted.train_dataset.select_columns(model_columns).to_list() == \
            plain.train_dataset.select_columns(model_columns).to_list()


def reference_loss(model, batch: dict, weights: torch.Tensor, count: float) -> torch.Tensor:
    """Weighted next-token NLL from the full logits (no fused head): sum over positions
    t of w[t+1] * -log p(labels[t+1] | ..t), divided by `count`."""
    inputs = {k: v for k, v in batch.items() if k not in ("labels", "edit_weights")}
    logits = model(**inputs).logits[:, :-1].float()
    labels = batch["labels"][:, 1:]
    mask = labels != -100
    nll = -torch.log_softmax(logits, -1).gather(-1, labels.clamp(min=0)[..., None])[..., 0]
    return (nll * weights[:, 1:] * mask).sum() / count


@pytest.mark.parametrize("packing", [True, False])
def test_loss_with_weights_one_is_trls_loss(tmp_path: Path, tiny_model_dir: Path,
                                            packing: bool) -> None:
    mixture = write_rows(tmp_path / "mix", VARIED)
    plain = trainer_for(tmp_path, tiny_model_dir, mixture, packing=packing)
    weighted = trainer_for(tmp_path, tiny_model_dir, mixture, packing=packing, edit_weight=3.0)
    model = weighted.model
    model.eval()
    batch = next(iter(weighted.get_train_dataloader()))
    plain_batch = next(iter(plain.get_train_dataloader()))
    assert torch.equal(batch["input_ids"], plain_batch["input_ids"])
    in_loss = batch["labels"][:, 1:] != -100
    ones = (batch["labels"] != -100).float()
    with torch.no_grad():
        trl_loss = plain.compute_loss(model, dict(plain_batch))
        loss = weighted.compute_loss(model, {**batch, "edit_weights": ones})
        torch.testing.assert_close(loss, trl_loss, rtol=1e-6, atol=1e-7)
        # under gradient accumulation TRL divides by the tokens of the whole step
        items = torch.tensor(3 * int(in_loss.sum()))
        torch.testing.assert_close(
            weighted.compute_loss(model, {**batch, "edit_weights": ones},
                                  num_items_in_batch=items),
            plain.compute_loss(model, dict(plain_batch), num_items_in_batch=items),
            rtol=1e-6, atol=1e-7)
        # the edit weights: the same mean over completion tokens, edits counted 3 times
        weights = batch["edit_weights"]
        assert (weights == 3.0).any()
        edited = weighted.compute_loss(model, dict(batch))
        torch.testing.assert_close(edited, reference_loss(model, batch, weights, in_loss.sum()),
                                   rtol=1e-5, atol=1e-6)
        assert edited > loss
        # weights on other tokens than the labels' would give another value
        shifted = torch.roll(weights, 1, dims=1)
        assert not torch.allclose(reference_loss(model, batch, shifted, in_loss.sum()), edited)
