"""Training logs through DVCLive, by transformers' own DVCLive integration.

One folder per trained system (dvclive/<name>/, declared in dvc.yaml): metrics.json
holds the last logged values (final loss, tokens seen, ...), which `dvc exp show`
lists; plots/metrics/*.tsv hold the per-step curves that `dvc plots show` and the report
draw. Two changes to transformers' DVCLiveCallback: DVCLive's step is the optimizer
step (the callback counts log calls, which differ from steps with logging_steps > 1),
and a resumed run replays the log of the steps its checkpoint holds, so a killed and
resumed training logs every step once; its closing summary (`train` in metrics.json)
then gives the loss of the whole run. Wall-clock figures are not logged: the same
training gives the same log on any machine.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from stages.lib.core.io import InputError

LOSS_CURVE = Path("plots/metrics/loss.tsv")  # per-step loss, inside a DVCLive folder


def live_callback(folder: Path) -> Any:
    """transformers' DVCLiveCallback logging to FOLDER (cleared first: on resume the
    replay refills it), with DVCLive's step = the trainer's global step.

    No dvc.yaml is written and no experiment saved: dvc.yaml declares the folder, and
    `dvc exp run` records the experiment. transformers is imported here, not at module
    level, so the report stage can read curves without it."""
    from dvclive import Live
    from transformers.integrations import DVCLiveCallback

    class StepLoggingDVCLive(DVCLiveCallback):
        resumed_at = 0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            super().on_train_begin(args, state, control, **kwargs)
            self.resumed_at = state.global_step
            # a resumed run: the checkpoint's trainer state carries the earlier steps' log
            for logs in state.log_history:
                self._log_at(args, state, control, logs["step"],
                             {k: v for k, v in logs.items() if k != "step"})

        def on_log(self, args: Any, state: Any, control: Any, model: Any = None,
                   logs: dict | None = None, **kwargs: Any) -> None:
            logs = logs or {}
            if "train_loss" in logs and self.resumed_at:
                logs = resumed_summary(logs, state.log_history, self.resumed_at)
            self._log_at(args, state, control, state.global_step, logs)

        def _log_at(self, args: Any, state: Any, control: Any, step: int, logs: dict) -> None:
            if self.live is not None:
                self.live.step = step
            super().on_log(args, state, control, logs=without_timings(logs))

    from scmrepo.exceptions import SCMError

    try:
        live = Live(dir=str(folder), resume=False, save_dvc_exp=False, dvcyaml=None)
    except SCMError as exc:
        # DVCLive asks git for the revision it logs against; in a repository without a
        # commit it raises past its own error handling (dvclive 3.48)
        raise InputError(f"{folder}: DVCLive needs a git revision ({exc}); commit once "
                         f"(git add -A && git commit) before training") from None
    return StepLoggingDVCLive(live=live)


# Wall-clock figures transformers logs (train_runtime, *_per_second): they differ on
# every run and machine, so logged they would make DVC see a new training log (and
# dvc.lock change) for the same training; the stage prints its time instead.
TIMING_SUFFIXES = ("_runtime", "_per_second")


def without_timings(logs: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in logs.items() if not key.endswith(TIMING_SUFFIXES)}


def resumed_summary(logs: dict[str, Any], history: list[dict[str, Any]],
                    resumed_at: int) -> dict[str, Any]:
    """transformers' closing summary of a resumed run, made to describe the whole run:
    its loss only summed the steps of this call (and transformers 5.17 divides that sum
    by all the steps), so the loss becomes the mean over every logged step (each log's
    loss is the mean of its window of steps), and `train_resumed_at_step` says where
    the run was resumed."""
    windows, previous = [], 0
    for entry in history:
        if "loss" in entry and "step" in entry:
            windows.append((entry["loss"], entry["step"] - previous))
            previous = entry["step"]
    steps = sum(length for _, length in windows)
    summary = dict(logs)
    if steps:
        summary["train_loss"] = sum(loss * length for loss, length in windows) / steps
    summary["train_resumed_at_step"] = resumed_at
    return summary


def read_loss_curve(folder: Path) -> tuple[list[float], list[float]]:
    """(steps, losses) of a DVCLive training folder."""
    path = folder / LOSS_CURVE
    steps, losses = [], []
    with open(path, encoding="utf-8", newline="") as rows:
        reader = csv.DictReader(rows, delimiter="\t")
        if not reader.fieldnames or not {"step", "loss"} <= set(reader.fieldnames):
            raise InputError(f"{path}:1: expected DVCLive columns step and loss")
        for number, row in enumerate(reader, start=2):
            try:
                steps.append(float(row["step"]))
                losses.append(float(row["loss"]))
            except (TypeError, ValueError) as exc:
                raise InputError(f"{path}:{number}: step and loss must be numbers") from exc
    return steps, losses
