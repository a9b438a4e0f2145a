"""Typed errors: library code names the field (`top_p`), only the CLI speaks in flags (`--top-p`)."""

from __future__ import annotations

import pytest

from r1eval.cli import main
from r1eval.errors import ConfigError, UsageError
from r1eval.gate import compare_runs
from r1eval.records import SamplingParams


@pytest.mark.parametrize(("params", "field", "message"), [
    (SamplingParams(top_p=1.5), "top_p", "must be in (0, 1] (got 1.5)"),
    (SamplingParams(n=0), "n", "must be >= 1 (got 0)"),
    (SamplingParams(frequency_penalty=3.0), "frequency_penalty", "must be in [-2, 2], 0 = off (got 3.0)"),
    (SamplingParams(chat_template_kwargs={"tokenize": True}), "chat_template_kwargs",
     "can't set tokenize: r1eval sets it itself"),
])
def test_library_errors_carry_the_field_not_a_flag(params: SamplingParams, field: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        params.validate()
    assert (info.value.field, info.value.message) == (field, message)
    assert str(info.value) == f"{field} {message}" and "--" not in str(info.value)
    assert isinstance(info.value, UsageError)


def test_gate_settings_are_named_by_field(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"^alpha must be in \(0, 1\) \(got 1.5\)$"):
        compare_runs(tmp_path, tmp_path, alpha=1.5)


@pytest.mark.parametrize(("argv", "line"), [
    (["run", "--top-p", "1.5"], "r1eval: error: --top-p must be in (0, 1] (got 1.5)"),
    (["run", "--frequency-penalty", "3"], "r1eval: error: --frequency-penalty must be in [-2, 2], 0 = off (got 3.0)"),
    (["gate", "--baseline", "a", "--candidate", "b", "--alpha", "2"], "r1eval: error: --alpha must be in (0, 1) (got 2.0)"),
    (["distill", "generate", "--data", "aime24", "--output", "unused", "--temperature", "9"],
     "r1eval: error: --temperature must be in [0, 5] (got 9.0)"),
])
def test_cli_words_the_field_as_its_flag(argv: list[str], line: str, capsys) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == line and captured.out == ""
