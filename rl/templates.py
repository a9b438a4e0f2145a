"""Prompt templates for GRPO: DeepSeek-R1-Zero's plain-text template for base models, and the R1
evaluation prompt in the model's own chat template for instruct models.

A template turns a problem statement into a TRL dataset `prompt`: a string for base models (TRL feeds
it as is) or a list of chat messages for instruct models (TRL applies the tokenizer's chat template).
"""

from __future__ import annotations

from typing import Any

from r1eval.benches.math import MATH_INSTRUCTION, math_prompt
from r1eval.reasoning import opens_reasoning

# DeepSeek-R1 paper, Table 1 ("prompt" is replaced with the question during training)
R1_ZERO_TEMPLATE = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with "
    "the answer. The reasoning process and answer are enclosed within <think> </think> and <answer> "
    "</answer> tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here "
    "</answer>. User: {prompt}. Assistant:"
)


def r1_zero_prompt(problem: str) -> str:
    """The R1-Zero template filled with `problem`: plain text, for base models without a chat template."""
    return R1_ZERO_TEMPLATE.format(prompt=problem.strip())


def chat_prompt(problem: str) -> list[dict[str, str]]:
    """The R1 evaluation prompt as chat messages (the harness's `math_prompt`), for instruct models:
    training and `r1eval run` then see the same prompt."""
    return math_prompt(problem.strip())


TEMPLATES = {"r1-zero": r1_zero_prompt, "chat": chat_prompt}


def problem_statement(messages: list[dict[str, Any]]) -> str:
    """The bare problem of a harness prompt (last user turn without the R1 answer instruction)."""
    content = str(messages[-1]["content"])
    return content.removesuffix(MATH_INSTRUCTION).rstrip()


def apply_template(name: str, problem: str) -> str | list[dict[str, str]]:
    """`problem` in the named template ("r1-zero" or "chat")."""
    return TEMPLATES[name](problem)


def opens_think(prompt: str | list[dict[str, Any]], tokenizer: Any, **template_kwargs: Any) -> bool:
    """Whether the text the model is given ends with `<think>`, so its completion starts inside the
    reasoning. The prompt is rendered the way TRL renders it (`trl.data_utils.maybe_apply_chat_template`:
    a conversation through the tokenizer's chat template with the generation prompt, a string as it is);
    R1-Distill, QwQ and Qwen3-style templates open `<think>` themselves."""
    from trl.data_utils import maybe_apply_chat_template

    text = maybe_apply_chat_template({"prompt": prompt}, tokenizer, **template_kwargs)["prompt"]
    return opens_reasoning(text)
