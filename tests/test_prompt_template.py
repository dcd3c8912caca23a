"""prompt_template: the paper's Alpaca template or the base model's own chat template,
the same in train, predict and edit (stages/lib/data/prompts.py)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from stages.lib.core.io import InputError
from stages.lib.data.prompts import (
    format_example,
    format_prompt,
    recorded_template,
    template_setting,
)
from stages.predict import predict
from stages.train import parse_train, run_key, training_rows
from tests.test_predict import write_tiny_benchmark

# A ChatML-like template, as SmolLM2-Instruct's (without its default system turn)
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
INSTRUCTION, SOURCE, TARGET = ("Fix grammatical errors in the text.",
                               "She go to school yesterday .", "She went to school yesterday .")


@pytest.fixture(scope="module")
def chat_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model whose tokenizer has a chat template."""
    from transformers import AutoTokenizer

    folder = tmp_path_factory.mktemp("chat-model")
    shutil.copytree(tiny_model_dir, folder, dirs_exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    return folder


def test_chat_prompt_is_one_user_turn_and_the_generation_prompt(chat_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(chat_model_dir)
    prompt = format_prompt(INSTRUCTION, SOURCE, "chat", tokenizer)
    assert prompt == (f"<|im_start|>user\n{INSTRUCTION}\n\n{SOURCE}<|im_end|>\n"
                      f"<|im_start|>assistant\n")
    # a generic instruction without input is the instruction alone
    assert format_prompt("Name a colour.", "", "chat", tokenizer) == (
        "<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n")
    # the paper's template is untouched by the choice
    assert format_prompt(INSTRUCTION, SOURCE) == format_prompt(INSTRUCTION, SOURCE, "alpaca")
    assert "### Response:" in format_prompt(INSTRUCTION, SOURCE, "alpaca", tokenizer)


def test_chat_needs_a_tokenizer_with_a_chat_template(tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    with pytest.raises(ValueError, match="chat template"):
        format_prompt(INSTRUCTION, SOURCE, "chat", None)
    with pytest.raises(ValueError, match="chat template"):
        format_prompt(INSTRUCTION, SOURCE, "chat", AutoTokenizer.from_pretrained(tiny_model_dir))
    with pytest.raises(ValueError, match="unknown prompt template 'vicuna'"):
        format_prompt(INSTRUCTION, SOURCE, "vicuna")


def test_template_setting_defaults_to_the_papers_and_names_the_key() -> None:
    assert template_setting({}) == "alpaca"
    assert template_setting({"prompt_template": "chat"}) == "chat"
    with pytest.raises(InputError, match="prompt_template: unknown template 'chatml'"):
        template_setting({"prompt_template": "chatml"})


def write_mixture(folder: Path, with_raw_columns: bool = True) -> Path:
    from datasets import Dataset

    rows = []
    for instruction, source, target in [(INSTRUCTION, SOURCE, TARGET),
                                        ("Name a colour.", "", "Blue.")]:
        row = {"id": target, **format_example(instruction, source, target), "source": source}
        if with_raw_columns:
            row.update(instruction=instruction, input=source)
        rows.append(row)
    folder.mkdir(parents=True)
    Dataset.from_list(rows).to_parquet(str(folder / "train.parquet"))
    return folder


def test_training_rows_render_the_chosen_template(chat_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(chat_model_dir)
    data = write_mixture(tmp_path / "mix")
    cfg = parse_train({"train": {"max_steps": 1, "per_device_batch_size": 1,
                                 "global_batch_size": 1, "learning_rate": 1e-3}})
    alpaca = training_rows(cfg, data)
    assert alpaca["prompt"][0] == format_prompt(INSTRUCTION, SOURCE)  # the column as mixed
    chat = training_rows(cfg, data, "chat", tokenizer)
    assert chat.column_names == ["prompt", "completion"]
    assert chat["prompt"] == [format_prompt(INSTRUCTION, SOURCE, "chat", tokenizer),
                              format_prompt("Name a colour.", "", "chat", tokenizer)]
    assert chat["completion"] == alpaca["completion"] == [TARGET, "Blue."]
    with pytest.raises(InputError, match="no input or instruction column.*rebuild the mixture"):
        training_rows(cfg, write_mixture(tmp_path / "old", with_raw_columns=False), "chat",
                      tokenizer)


def test_the_template_is_in_the_run_key_only_when_it_is_not_the_papers(
        tiny_model_dir: Path) -> None:
    cfg = parse_train({"train": {"max_steps": 1, "per_device_batch_size": 1,
                                 "global_batch_size": 1, "learning_rate": 1e-3}})
    legacy = run_key(cfg, "m", tiny_model_dir, 1)
    assert run_key(cfg, "m", tiny_model_dir, 1, "alpaca") == legacy  # old runs resume
    assert run_key(cfg, "m", tiny_model_dir, 1, "chat") != legacy


def run_predict(tmp_path: Path, model_dir: Path, template: str | None) -> tuple[int, str]:
    bench = write_tiny_benchmark(tmp_path / "benchmark")
    params: dict = {"profile": "default",
                    "predict": {"max_items": 1, "dtype": "float32", "device": "cpu",
                                "max_new_tokens_min": 2, "max_new_tokens_max": 4}}
    if template is not None:
        params["prompt_template"] = template
    path = tmp_path / f"params-{template}.yaml"
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    result = CliRunner().invoke(predict, [
        "--system", "sys", "--adapter", str(model_dir), "--base", str(model_dir),
        "--benchmark", str(bench), "--params", str(path),
        "--out", str(tmp_path / f"out-{template}")])
    return result.exit_code, result.output


def test_predict_prompts_an_adapter_the_way_it_was_trained(chat_model_dir: Path,
                                                           tmp_path: Path) -> None:
    trained = tmp_path / "trained"
    shutil.copytree(chat_model_dir, trained)
    (trained / "training_args.json").write_text(json.dumps({"prompt_template": "chat"}))
    assert recorded_template(trained) == "chat"
    assert recorded_template(chat_model_dir) is None  # not written by train
    code, log = run_predict(tmp_path, trained, None)  # params default: alpaca
    assert code != 0 and "prompt_template is 'alpaca'" in log and "'chat'" in log
    assert not (tmp_path / "out-None").exists()
    code, log = run_predict(tmp_path, trained, "chat")
    assert code == 0, log
    assert "prompt template chat" in log
    assert (tmp_path / "out-chat" / "jfl.jsonl").is_file()


def test_train_records_its_template_for_predict_and_edit(chat_model_dir: Path,
                                                         tmp_path: Path) -> None:
    from stages.train import train

    data = write_mixture(tmp_path / "mix")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({
        "prompt_template": "chat",
        "train": {"max_steps": 1, "per_device_batch_size": 2, "global_batch_size": 2,
                  "learning_rate": 1e-3, "dtype": "float32", "device": "cpu"}}))
    result = CliRunner().invoke(train, [
        "--mixture", "mini", "--data", str(data), "--base", str(chat_model_dir),
        "--params", str(params), "--out", str(tmp_path / "adapter"),
        "--checkpoints", str(tmp_path / "ckpt"), "--live", str(tmp_path / "live")])
    assert result.exit_code == 0, result.output
    assert recorded_template(tmp_path / "adapter") == "chat"


def test_the_adapter_card_names_the_recorded_template(tmp_path: Path) -> None:
    from stages.lib.evaluation.results import Results
    from stages.lib.publishing.adapter_card import build_adapter_card
    from stages.publish import TEMPLATE

    (tmp_path / "training_args.json").write_text(json.dumps({"prompt_template": "chat"}))
    card = build_adapter_card(name="w", repo_id="me/w", dataset_repo_id="me/d",
                              adapter_dir=tmp_path, metrics=Results({}), benchmark_index=None,
                              license_info={}, base_model_id=None, template=TEMPLATE)
    assert "base model's chat template" in card.text
    assert "`prompt_template: chat`" in card.text.replace("\n", " ")


def test_chat_on_a_model_without_a_chat_template_is_refused_before_loading(
        tiny_model_dir: Path, chat_model_dir: Path, tmp_path: Path) -> None:
    """A pre-trained base (Gemma 3 270M; here the tiny model) has no chat template: train,
    predict and edit refuse `chat` in one line naming the setting, before any model loads."""
    from stages.edit import edit
    from stages.lib.data.prompts import has_chat_template
    from stages.train import train

    assert has_chat_template(chat_model_dir) and not has_chat_template(tiny_model_dir)
    code, log = run_predict(tmp_path, tiny_model_dir, "chat")
    assert code == 2 and "prompt_template chat: " in log and "has no chat template" in log
    assert not (tmp_path / "out-chat").exists()
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"prompt_template": "chat", "train": {
        "max_steps": 1, "per_device_batch_size": 2, "global_batch_size": 2, "device": "cpu",
        "learning_rate": 1e-3, "dtype": "float32"}}))
    result = CliRunner().invoke(train, [
        "--mixture", "mini", "--data", str(write_mixture(tmp_path / "mix")), "--base",
        str(tiny_model_dir), "--params", str(params), "--out", str(tmp_path / "adapter"),
        "--checkpoints", str(tmp_path / "ckpt"), "--live", str(tmp_path / "live")])
    assert result.exit_code == 2 and "has no chat template" in result.output, result.output
    assert not (tmp_path / "adapter").exists() and not (tmp_path / "ckpt").exists()
    result = CliRunner().invoke(edit, ["--adapter", str(tiny_model_dir), "--task", "grammar",
                                       "--prompt-template",
                                       "chat", "She go home ."])
    assert result.exit_code == 2 and "--prompt-template chat: " in result.output, result.output
