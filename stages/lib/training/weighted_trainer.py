"""TRL's SFTTrainer with edit-weighted MLE (train.edit_weight; stages/lib/training/edit_weights.py).

The weights travel with the batch, as one float per token beside input_ids and labels:

1. Dataset preparation is TRL's own (EOS appended to the completion, prompt+completion
   tokenized, labels -100 on the prompt), asked not to truncate, pack or shuffle. Each
   row's weights are then computed from the same text's character offsets, after a check
   that they tokenize it to the same ids. TRL's last steps follow as it does them, with
   the weights as a third column: truncation (unpacked) or BFD packing (trl.pack_dataset
   slices and concatenates every list column alike, and bins by length alone, so the
   packed input_ids and labels are the ones plain TRL packs), then the shuffle.
2. The collator is TRL's, plus the weights laid out like the labels (padded, or flattened
   when padding-free), 0 wherever the label is -100.
3. compute_loss is TRL's: the model's fused per-token log-probabilities are multiplied by
   the weights before TRL sums them and divides by the count of completion tokens (or by
   num_items_in_batch under gradient accumulation). With every weight 1 it is TRL's loss.

Works with trl 1.16 on transformers 5.17 to 5.24.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Iterator
from typing import Any

import torch
from accelerate import PartialState
from datasets import Dataset
from trl import SFTTrainer, pack_dataset
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from stages.lib.training.edit_weights import changed_spans, token_weights

WEIGHTS = "edit_weights"
TARGET = "edit_target"  # the completion as written, before TRL appends the EOS token
NEEDED = ("prompt", "completion", "source")


@contextlib.contextmanager
def main_process_first() -> Iterator[None]:
    """The main process writes the datasets cache first, the others then read it."""
    state = PartialState()
    with state.main_process_first(), state.local_main_process_first():
        yield


def keep_target(example: dict[str, Any]) -> dict[str, str]:
    return {TARGET: example["completion"]}


def row_weights(example: dict[str, Any], tokenizer: Any, edit_weight: float) -> dict[str, Any]:
    """The weights of one tokenized row (TRL's input_ids and labels)."""
    text = example["prompt"] + example["completion"]  # as TRL tokenized it (EOS included)
    encoded = tokenizer(text, return_offsets_mapping=True)
    if encoded["input_ids"] != example["input_ids"]:
        raise ValueError("edit weights: the tokenizer's offsets tokenize a row differently "
                         "from SFTTrainer; the weights would not align with the tokens")
    shift = len(example["prompt"])
    spans = [(start + shift, end + shift)
             for start, end in changed_spans(example["source"], example[TARGET])]
    in_loss = [label != -100 for label in example["labels"]]
    return {WEIGHTS: token_weights(encoded["offset_mapping"], in_loss, spans, edit_weight)}


def truncate(example: dict[str, Any], keep: slice) -> dict[str, Any]:
    return {key: example[key][keep] for key in ("input_ids", "labels", WEIGHTS)}


@dataclasses.dataclass
class EditWeightCollator(DataCollatorForLanguageModeling):
    """TRL's collator, plus a float `edit_weights` tensor shaped like `labels`."""

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = super().torch_call(examples)
        rows = [torch.tensor(example[WEIGHTS], dtype=torch.float32) for example in examples]
        if self.padding_free:
            rows = [torch.cat(rows)]
        weights = torch.zeros(batch["labels"].shape, dtype=torch.float32)
        for i, row in enumerate(rows):
            weights[i, :len(row)] = row
        # padding, and the first token of each packed sequence, which TRL unlabels
        weights[batch["labels"] == -100] = 0.0
        batch[WEIGHTS] = weights
        return batch


class WeightedLogProbs:
    """The model, whose fused per-token log-probabilities come out multiplied by the
    weights of the tokens they predict (labels[:, 1:], as the log-probabilities are)."""

    def __init__(self, model: Any, weights: torch.Tensor):
        self.model = model
        self.weights = weights[:, 1:]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        outputs = self.model(*args, **kwargs)
        if kwargs.get("fused_lm_head"):
            if outputs.log_probs.shape != self.weights.shape:
                raise RuntimeError(f"edit weights {tuple(self.weights.shape)} do not align with "
                                   f"the log-probabilities {tuple(outputs.log_probs.shape)}")
            outputs.log_probs = outputs.log_probs * self.weights.to(outputs.log_probs.dtype)
        return outputs


class EditWeightedSFTTrainer(SFTTrainer):
    """SFTTrainer on prompt/completion/source rows whose completion tokens that a word
    diff from the source marks as changed weigh `edit_weight` in the loss (others 1)."""

    def __init__(self, *args: Any, edit_weight: float, **kwargs: Any):
        self.edit_weight = edit_weight  # read by _prepare_dataset, inside super().__init__
        super().__init__(*args, **kwargs)
        if self.args.loss_type != "nll" or self.label_smoother is not None \
                or self.compute_loss_func is not None:
            raise ValueError("edit weights scale TRL's plain NLL loss: loss_type nll, "
                             "no label smoothing, no compute_loss_func")
        collator = self.data_collator
        if type(collator) is not DataCollatorForLanguageModeling:
            raise ValueError(f"edit weights need TRL's language-modeling collator, "
                             f"not {type(collator).__name__}")
        self.data_collator = EditWeightCollator(
            **{f.name: getattr(collator, f.name) for f in dataclasses.fields(collator)})

    def _prepare_dataset(self, dataset: Dataset, processing_class: Any, args: Any,
                         packing: bool, formatting_func: Any, dataset_name: str) -> Dataset:
        missing = [c for c in NEEDED if c not in getattr(dataset, "column_names", [])]
        if not isinstance(dataset, Dataset) or missing or formatting_func is not None:
            raise ValueError(f"edit weights need a Dataset with columns {', '.join(NEEDED)} "
                             f"and no formatting function (missing: {', '.join(missing)})")
        if not getattr(processing_class, "is_fast", False):
            raise ValueError("edit weights need a fast tokenizer (character offsets)")
        map_kwargs: dict[str, Any] = {"num_proc": args.dataset_num_proc}
        with main_process_first():
            dataset = dataset.map(keep_target, desc=f"Keeping {dataset_name} targets",
                                  **map_kwargs)
        untouched = copy.copy(args)  # TRL's preparation up to the labels: no cut, no order
        untouched.max_length, untouched.shuffle_dataset = None, False
        dataset = super()._prepare_dataset(dataset, processing_class, untouched, False, None,
                                           dataset_name)
        with main_process_first():
            dataset = dataset.map(
                row_weights, desc=f"Edit weights of {dataset_name} dataset",
                fn_kwargs={"tokenizer": processing_class, "edit_weight": self.edit_weight},
                **map_kwargs).select_columns(["input_ids", "labels", WEIGHTS])
            # TRL's last steps (SFTTrainer._prepare_dataset), the weights beside the labels
            if args.max_length is not None and not packing:
                if args.truncation_mode not in ("keep_start", "keep_end"):
                    raise ValueError(f"unsupported truncation_mode {args.truncation_mode}")
                keep = slice(None, args.max_length) if args.truncation_mode == "keep_start" \
                    else slice(-args.max_length, None)
                dataset = dataset.map(truncate, fn_kwargs={"keep": keep}, **map_kwargs,
                                      desc=f"Truncating {dataset_name} dataset")
                dataset = dataset.filter(lambda row: any(x != -100 for x in row["labels"]),
                                         **map_kwargs, desc="Dropping fully masked rows")
            if packing:
                if args.max_length is None:
                    raise ValueError("When packing is enabled, `max_length` can't be `None`.")
                if args.shuffle_dataset:
                    dataset = dataset.shuffle(seed=args.seed)
                dataset = pack_dataset(dataset, args.max_length, args.packing_strategy,
                                       {**map_kwargs, "desc": f"Packing {dataset_name} dataset"})
        if args.shuffle_dataset:
            dataset = dataset.shuffle(seed=args.seed)
        return dataset

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        if WEIGHTS not in self._signature_columns:  # kept by remove_unused_columns
            self._signature_columns = [*self._signature_columns, WEIGHTS]

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        weights = inputs.pop(WEIGHTS)
        if "shift_labels" in inputs:  # sequence parallelism: labels come pre-shifted
            raise ValueError("edit weights do not support sequence parallelism")
        return super().compute_loss(WeightedLogProbs(model, weights), inputs,
                                    return_outputs=return_outputs,
                                    num_items_in_batch=num_items_in_batch)
