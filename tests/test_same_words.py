"""What counts as an output that copies its input: spacing is no edit, words are."""
from __future__ import annotations

import json
from pathlib import Path

from stages.lib.core.same_words import same_words, words
from stages.lib.evaluation.copy_share import copy_share


def test_spacing_around_punctuation_and_clitics_is_no_edit() -> None:
    assert same_words("She go to school yesterday .", "She go to school yesterday.")
    assert same_words("I do n't know , really .", "I don't know, really.")
    assert same_words("  two\nlines ", "two lines")
    assert words("isn't it ?") == ["is", "n't", "it", "?"]


def test_changed_words_and_split_words_are_edits() -> None:
    assert not same_words("She go to school yesterday .", "She went to school yesterday.")
    assert not same_words("I have alot of work .", "I have a lot of work .")
    assert not same_words("Hello world .", "Hello world")  # a dropped full stop
    assert not same_words("the end .", "The end .")  # case is an edit


def test_copy_share_counts_detokenized_copies(tmp_path: Path) -> None:
    rows = [{"id": "1", "input": "She go home .", "output": "She go home."},
            {"id": "2", "input": "She go home .", "output": "She went home."},
            {"id": "3", "input": "He do n't .", "output": "He don't."},
            {"id": "4", "input": "Fine .", "output": "Fine ."}]
    (tmp_path / "jfl.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (tmp_path / "sts.jsonl").write_text(json.dumps(rows[1]) + "\n")
    assert copy_share(tmp_path) == {"jfl": 0.75, "sts": 0.0}
