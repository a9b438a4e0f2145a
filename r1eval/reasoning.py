"""The one place that splits a reply into its reasoning (`<think>…</think>`) and its answer.

Every reader of replies goes through `split_reasoning`: the graders (the answer is read after the last
`</think>`), the language checks (the chain of thought), the RL format rewards and the distillation
filter (exactly one reasoning block), and the backends (a prompt that already opened `<think>`).
"""

from __future__ import annotations

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
THINK_PREFIX = THINK_OPEN + "\n"  # what a forced (or template-opened) reasoning block starts with


def split_reasoning(text: str) -> tuple[str, str | None, bool]:
    """(reasoning, answer, closed) of a reply.

    reasoning: inside the first `<think>` up to the next `</think>` (to the end when never closed); with no
        `<think>`, the text before the first `</think>` (the prompt opened the block); with no tags at all,
        the whole reply.
    answer: the text after the last `</think>`; None when a `<think>` was opened but never closed (the reply
        was cut inside its reasoning); the whole reply when it has no tags.
    closed: whether the reply holds a `</think>`.
    """
    start = text.find(THINK_OPEN)
    end = text.find(THINK_CLOSE, max(start, 0))
    closed = end >= 0 or THINK_CLOSE in text
    if start < 0:
        reasoning = text[:end] if end >= 0 else text
    else:
        reasoning = text[start + len(THINK_OPEN): end if end >= 0 else len(text)]
    if closed:
        answer: str | None = text.rsplit(THINK_CLOSE, 1)[1]
    else:
        answer = None if start >= 0 else text
    return reasoning, answer, closed


def answer_region(text: str) -> str | None:
    """The text an answer is read from (`split_reasoning`'s answer): after the last `</think>`; None if the
    reasoning never closed."""
    return split_reasoning(text)[1]


def reasoning_text(text: str) -> str:
    """The chain of thought (`split_reasoning`'s reasoning)."""
    return split_reasoning(text)[0]


def single_block(text: str) -> tuple[str, str] | None:
    """(reasoning, answer) of a reply that is exactly `<think>reasoning</think>answer` (leading whitespace
    allowed, one opening and one closing tag); None for any other shape. Parts are not stripped."""
    if not (text.lstrip().startswith(THINK_OPEN) and text.count(THINK_OPEN) == 1 and text.count(THINK_CLOSE) == 1):
        return None
    reasoning, answer, _ = split_reasoning(text)
    assert answer is not None
    return reasoning, answer


def opens_reasoning(prompt_text: str) -> bool:
    """Whether a rendered prompt ends inside an opened `<think>` (the completion starts in the reasoning)."""
    return prompt_text.rstrip().endswith(THINK_OPEN)
