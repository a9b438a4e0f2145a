"""r1eval.reasoning: the one splitter of replies into reasoning and answer, against hand-worked cases."""

from __future__ import annotations

import pytest

from r1eval.reasoning import answer_region, opens_reasoning, reasoning_text, single_block, split_reasoning


@pytest.mark.parametrize(("text", "expected"), [
    ("<think>a</think>b", ("a", "b", True)),
    ("  <think>\na\n</think>\nb", ("\na\n", "\nb", True)),
    ("no tags at all", ("no tags at all", "no tags at all", False)),
    ("<think>cut inside the reasoning", ("cut inside the reasoning", None, False)),
    ("the template opened it</think>ans", ("the template opened it", "ans", True)),  # no <think> in the reply
    ("<think>a</think>b<think>c</think>d", ("a", "d", True)),  # first block's reasoning, answer after the last
    ("x</think>y<think>z", ("z", "y<think>z", True)),  # a closing tag before the only opening one
    ("", ("", "", False)),
])
def test_split_reasoning(text: str, expected: tuple) -> None:
    assert split_reasoning(text) == expected
    assert answer_region(text) == expected[1] and reasoning_text(text) == expected[0]


@pytest.mark.parametrize(("text", "expected"), [
    ("<think>a</think>b", ("a", "b")),
    ("\n <think>a</think>", ("a", "")),  # the shape is right; emptiness is the caller's judgement
    ("Sure. <think>a</think>b", None),  # text before the block
    ("<think>a</think>b</think>", None),  # two closing tags
    ("<think>a<think>b</think>c", None),  # nested opening tag
    ("<think>a</think>b<think>c", None),
    ("<think>never closed", None),
    ("no tags", None),
])
def test_single_block(text: str, expected: tuple | None) -> None:
    assert single_block(text) == expected


def test_opens_reasoning() -> None:
    assert opens_reasoning("<|assistant|>\n<think>\n") and opens_reasoning("...<think>")
    assert not opens_reasoning("<think>done</think>") and not opens_reasoning("")
