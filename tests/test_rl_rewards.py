"""Reward tables for rl.rewards, including hostile completions: a reward never raises."""

from __future__ import annotations

import pytest

from r1eval.rl.rewards import (
    REWARDS,
    accuracy_reward,
    extract_answer_text,
    format_reward,
    language_reward,
    r1_zero_format_reward,
    weighted_sum,
)
from r1eval.rl.templates import R1_ZERO_TEMPLATE, chat_prompt, problem_statement, r1_zero_prompt

GOLD = "77"
# completion -> (accuracy, format, r1_zero_format)
TABLE = [
    ("<think>70 + 7</think> The answer is \\boxed{77}.", 1, 1, 0),
    ("<think>70 + 7</think> <answer>77</answer>", 1, 1, 1),
    ("<think>70 + 7</think> <answer>\\boxed{77}</answer>\n", 1, 1, 1),
    ("The answer is \\boxed{77}", 1, 0, 0),  # no reasoning block: correct but unformatted
    ("<think>70 + 7</think> \\boxed{76}", 0, 1, 0),
    ("<think>70 + 7 is \\boxed{77} but", 0, 0, 0),  # truncated inside the reasoning
    ("<think>x</think> <answer>77", 0, 1, 0),  # truncated inside <answer>
    ("<think></think> \\boxed{77}", 1, 0, 0),  # empty reasoning
    ("<think>a</think><think>b</think> \\boxed{77}", 1, 0, 0),  # two reasoning blocks
    ("<think>ok</think> <answer>77</answer> trailing", 1, 1, 0),
    ("", 0, 0, 0),
    ("   ", 0, 0, 0),
    ("\\boxed{" * 5000, 0, 0, 0),  # unbalanced braces
    ("<think>" * 3000 + "</think>" * 3000 + "\\boxed{77}", 1, 0, 0),
    ("<answer>" + "7" * 100_000 + "</answer>", 0, 0, 0),
    ("\x00\ud800 \\boxed{77}", 1, 0, 0),
]


@pytest.mark.parametrize(("completion", "acc", "fmt", "zero_fmt"), TABLE)
def test_reward_table(completion: str, acc: int, fmt: int, zero_fmt: int) -> None:
    kw = {"answer": [GOLD]}
    assert accuracy_reward([None], [completion], **kw) == [acc]
    assert format_reward([None], [completion], **kw) == [fmt]
    assert r1_zero_format_reward([None], [completion], **kw) == [zero_fmt]


def test_conversational_completions_and_forced_think_prompt() -> None:
    conv = [[{"role": "assistant", "content": "<think>add</think> \\boxed{77}"}],
            [{"role": "assistant", "content": None}], [{"role": "assistant"}], []]
    assert accuracy_reward([[{"role": "user", "content": "q"}]] * 4, conv, answer=[GOLD] * 4) == [1, 0, 0, 0]
    assert format_reward([None] * 4, conv) == [1, 0, 0, 0]
    # a prompt that ends in <think> opens the reasoning: the completion starts inside it
    assert format_reward(["Assistant: <think>"], ["add them</think> \\boxed{77}"]) == [1.0]
    assert accuracy_reward(["Assistant: <think>"], ["add \\boxed{77}"], answer=[GOLD]) == [0.0]


@pytest.mark.parametrize("func", list(REWARDS.values()))
def test_hostile_inputs_never_raise(func) -> None:
    hostile = [None, 42, 3.5, {"content": 7}, [{"no": "content"}], ["str in list"], b"bytes", object()]
    out = func([None] * len(hostile), hostile, answer=[GOLD] * len(hostile))
    assert out == [0.0] * len(hostile)
    assert func(None, None) == []
    assert func(["p"], ["<think>x</think> \\boxed{77}"], answer=None, language=None) in ([1.0], [0.0])
    # a shorter gold column, a scalar gold, numbers as gold: no exception
    assert len(func(["p", "q"], ["\\boxed{77}", "\\boxed{1}"], answer=["77"])) == 2
    assert len(func(["p"], ["\\boxed{77}"], answer=77)) == 1


def test_accuracy_uses_math_verify_equivalence() -> None:
    comps = ["<think>.</think> \\boxed{\\frac{1}{2}}", "<think>.</think> \\boxed{0.5}", "<think>.</think> \\boxed{2}"]
    assert accuracy_reward([None] * 3, comps, answer=["1/2"] * 3) == [1.0, 1.0, 0.0]


def test_language_reward_is_share_of_target_language_words() -> None:
    comps = ["<think>we add the numbers</think> \\boxed{1}", "<think>我们 add</think> 1",
             "<think>我们相加</think> 1", "<think>x = 2</think>"]
    out = language_reward([None] * 4, comps, language=["en", "en", "en", "en"])
    assert out[0] == 1.0 and 0 < out[1] < 1 and out[2] == 0.0 and out[3] == 0.0
    assert language_reward([None], ["<think>我们相加</think>"], language=["zh"]) == [1.0]


def test_weighted_sum_is_additive() -> None:
    combined = weighted_sum({"accuracy": 1.0, "format": 0.5, "language": 0.25})
    assert combined([None], ["<think>we add</think> \\boxed{77}"], answer=[GOLD]) == [1.75]
    assert combined([None], ["\\boxed{77}"], answer=[GOLD]) == [1.0]
    with pytest.raises(ValueError, match="unknown rewards"):
        weighted_sum({"speed": 1.0})


def test_extract_answer_text() -> None:
    assert extract_answer_text("<think>a</think><answer> 5 </answer>") == " 5 "
    assert extract_answer_text("<think>a") is None
    assert extract_answer_text("no tags 5") == "no tags 5"


def test_templates() -> None:
    prompt = r1_zero_prompt("What is 2 + 3?")
    assert prompt.startswith("A conversation between User and Assistant.")
    assert "<think> reasoning process here </think> <answer> answer here </answer>" in prompt
    assert prompt.endswith("User: What is 2 + 3?. Assistant:")
    assert R1_ZERO_TEMPLATE.count("{prompt}") == 1
    messages = chat_prompt("What is 2 + 3?")
    assert messages[0]["role"] == "user" and "\\boxed{}" in messages[0]["content"]
    assert problem_statement(messages) == "What is 2 + 3?"


# Chat templates reduced to what decides the rendered prompt's end (the generation prompt). Modelled on
# the chat_template of deepseek-ai/DeepSeek-R1-Distill-Qwen-7B (tokenizer_config.json: generation prompt
# '<｜Assistant｜><think>\n'), Qwen/QwQ-32B ('<|im_start|>assistant\n<think>\n'), and Qwen/Qwen3-8B
# ('<|im_start|>assistant\n', plus a closed '<think>\n\n</think>\n\n' when enable_thinking=false).
R1_DISTILL_TEMPLATE = ("{% for m in messages %}{% if m['role'] == 'user' %}{{'<｜User｜>' + m['content']}}"
                       "{% else %}{{'<｜Assistant｜>' + m['content'] + '<｜end▁of▁sentence｜>'}}{% endif %}"
                       "{% endfor %}{% if add_generation_prompt %}{{'<｜Assistant｜><think>\\n'}}{% endif %}")
QWQ_TEMPLATE = ("{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n'}}"
                "{% endfor %}{% if add_generation_prompt %}{{'<|im_start|>assistant\\n<think>\\n'}}{% endif %}")
QWEN3_TEMPLATE = ("{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n'}}"
                  "{% endfor %}{% if add_generation_prompt %}{{'<|im_start|>assistant\\n'}}"
                  "{% if enable_thinking is defined and enable_thinking is false %}{{'<think>\\n\\n</think>\\n\\n'}}"
                  "{% endif %}{% endif %}")


def tokenizer_with(template: str | None):
    """A real (tiny, offline) fast tokenizer carrying `template` as its chat template."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>")),
                                  unk_token="<unk>")
    tok.chat_template = template
    return tok


@pytest.mark.parametrize(("template", "kwargs", "opened"), [
    (R1_DISTILL_TEMPLATE, {}, True), (QWQ_TEMPLATE, {}, True), (QWEN3_TEMPLATE, {}, False),
    (QWEN3_TEMPLATE, {"enable_thinking": False}, False)])
def test_format_rewards_see_the_think_the_chat_template_opened(template, kwargs, opened) -> None:
    from r1eval.rl.templates import opens_think

    tok = tokenizer_with(template)
    prompt = chat_prompt("What is 70 + 7?")  # conversational: TRL hands the reward this message list
    assert opens_think(prompt, tok, **kwargs) is opened
    # what a model writes after a template that opened <think>: the reasoning, then the answer
    inside = [[{"role": "assistant", "content": "70 + 7 = 77</think> The answer is \\boxed{77}."}]]
    zero_inside = ["70 + 7 = 77 </think> <answer>77</answer>"]
    column = {"prompt_opens_think": [opens_think(prompt, tok, **kwargs)], "answer": [GOLD]}
    assert format_reward([prompt], inside, **column) == [1.0 if opened else 0.0]
    assert r1_zero_format_reward([prompt], zero_inside, **column) == [1.0 if opened else 0.0]
    assert accuracy_reward([prompt], inside, **column) == [1.0]  # the answer after </think>, either way
    # a reply that opens <think> itself is well-formed after a template that did not
    own = [[{"role": "assistant", "content": "<think>70 + 7 = 77</think> The answer is \\boxed{77}."}]]
    assert format_reward([prompt], own, **column) == [1.0]


def test_string_prompts_are_judged_as_they_are() -> None:
    from r1eval.rl.templates import opens_think

    tok = tokenizer_with(R1_DISTILL_TEMPLATE)  # a string prompt never goes through the chat template
    assert opens_think(r1_zero_prompt("What is 2 + 3?"), tok) is False
    assert opens_think("User: 2 + 3? Assistant: <think>\n", tok) is True


def test_accuracy_reward_is_not_fooled_by_a_restated_question() -> None:
    """The hack our own mini reproduction's GRPO policy found against math grader v2: restate the sum in
    prose and never compute it (math-verify evaluated `56 + 47` to the gold). Rewarded 0 since grader v3."""
    hack = ("To solve this problem, let's break it down step-by-step: First, we need to find 56 + 47. This "
            "problem involves a mix of math and a bit of creative thinking. But let's break it down further.")
    honest = "56 + 47: 6 + 7 = 13, carry 1; 5 + 4 + 1 = 10. The answer is \\boxed{103}."
    assert accuracy_reward(prompts=["What is 56 + 47?"] * 2, completions=[hack, honest], answer=["103"] * 2) == [0.0, 1.0]
