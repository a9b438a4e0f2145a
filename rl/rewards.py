"""DeepSeek-R1's rule-based rewards as TRL reward functions.

Every reward here has TRL's reward-function signature, `f(prompts, completions, **kwargs) -> list[float]`,
so it can be passed straight to `trl.GRPOTrainer(reward_funcs=[...])`. TRL passes every dataset column
as a keyword argument holding one value per completion; the gold answer comes from the `answer` column
(math), the tests from the `tests` column (code), the target language from an optional `language` column,
and whether the rendered prompt already opened `<think>` from an optional `prompt_opens_think` column
(`rl.train` fills it from the tokenizer's chat template; see `full_texts`).
Completions may be plain strings (base-model prompts) or conversations (`[{"role": "assistant",
"content": ...}]`, chat prompts); both are handled.

A reward function never raises: an empty, truncated, non-string or adversarial completion gets 0.0.

| reward                       | 1.0 when                                                            |
|------------------------------|---------------------------------------------------------------------|
| `accuracy_reward`            | the answer is correct (math-verify via the harness's MathGrader)     |
| `format_reward`              | `<think>reasoning</think>` then a non-empty answer                   |
| `r1_zero_format_reward`      | `<think>reasoning</think>` then `<answer>answer</answer>` and nothing else |
| `language_reward`            | (a share in [0, 1]) words of the reasoning in the target language    |
| `code_reward`                | the program passes all the problem's tests in the sandbox            |

`weighted_sum` combines rewards additively, as R1 does (accuracy + format for R1-Zero, plus language
consistency in R1's first RL stage). For training, pass the components and their weights to TRL
separately (`reward_funcs` + `reward_weights`), which sums them the same way and logs each one.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

from r1eval.grading.language import language_consistency
from r1eval.grading.math import MathGrader
from r1eval.reasoning import (
    THINK_OPEN,
    THINK_PREFIX,
    answer_region,
    opens_reasoning,
    reasoning_text,
    single_block,
)

RewardFunc = Callable[..., list[float]]
log = logging.getLogger(__name__)

# bounded, non-nested patterns: linear time whatever the input
_ANSWER_TAG = re.compile(r"<answer>(?P<answer>.*?)</answer>", re.S)
_R1_ZERO_TAIL = re.compile(r"\A\s*<answer>(?P<answer>.*?)</answer>\s*\Z", re.S)
MAX_REWARD_CHARS = 200_000  # longer replies are cut to this before any parsing

_grader: MathGrader | None = None


def _math_grader() -> MathGrader:
    """One in-process grader for the whole run (memoised verdicts; no pool to start every step)."""
    global _grader
    if _grader is None:
        _grader = MathGrader(workers=1)
    return _grader


def completion_to_text(completion: Any) -> str:
    """The text of one TRL completion: a string, or the concatenated contents of a message list."""
    if isinstance(completion, str):
        text = completion
    elif isinstance(completion, dict):
        text = completion.get("content") if isinstance(completion.get("content"), str) else ""
    elif isinstance(completion, (list, tuple)):
        text = "".join(m["content"] for m in completion
                       if isinstance(m, dict) and isinstance(m.get("content"), str))
    else:
        text = ""
    return text[:MAX_REWARD_CHARS]


def _full_text(prompt: Any, completion: Any, opened: Any = None) -> str:
    """The completion as the model wrote it after its prompt: `<think>\n` prepended when the prompt opened
    the reasoning (`opened`; None: judge from the prompt itself, a string ending in `<think>`)."""
    text = completion_to_text(completion)
    if opened is None:
        opened = opens_reasoning(completion_to_text(prompt))
    return THINK_PREFIX + text if opened and THINK_OPEN not in text[:50] else text


def full_texts(prompts: Sequence[Any], completions: Sequence[Any], kwargs: dict[str, Any]) -> list[str]:
    """`_full_text` of every completion, using the `prompt_opens_think` column when the dataset has one
    (rl.train sets it from the tokenizer's chat template: TRL hands conversational prompts over as message
    lists, in which a template's own `<think>` never shows)."""
    opened = _column(kwargs, "prompt_opens_think", len(completions))
    return [_full_text(p, c, o) for p, c, o in zip(prompts, completions, opened, strict=False)]


def _column(kwargs: dict[str, Any], name: str, n: int, default: Any = None) -> list[Any]:
    """Dataset column `name` from TRL's kwargs as a list of n values (missing or short -> default)."""
    values = kwargs.get(name)
    if values is None or isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        return [values if values is not None else default] * n
    values = list(values)
    return values + [default] * (n - len(values)) if len(values) < n else values[:n]


def never_raises(func: RewardFunc) -> RewardFunc:
    """Wrap a reward function: any exception, or a malformed result, becomes 0.0 for every completion."""
    @functools.wraps(func)
    def wrapper(prompts: Sequence[Any] | None = None, completions: Sequence[Any] | None = None,
                **kwargs: Any) -> list[float]:
        n = len(completions) if completions is not None else 0
        try:
            rewards = func(prompts if prompts is not None else [None] * n, completions or [], **kwargs)
            if len(rewards) != n:
                raise ValueError(f"{func.__name__} returned {len(rewards)} rewards for {n} completions")
            return [float(r) if r == r else 0.0 for r in rewards]  # NaN -> 0
        except Exception as exc:  # a reward must never stop training
            log.warning("%s failed (%s: %s); rewarding 0.0", func.__name__, type(exc).__name__, exc)
            return [0.0] * n
    return wrapper


def extract_answer_text(completion: str) -> str | None:
    """The part of a reply that holds its answer: the text after `</think>` (None when the reasoning was
    never closed), narrowed to the last `<answer>…</answer>` when there is one (R1-Zero template)."""
    region = answer_region(completion)
    if region is None:
        return None
    tags = list(_ANSWER_TAG.finditer(region))
    if tags:
        return tags[-1].group("answer")
    if "<answer>" in region:  # opened but never closed: truncated
        return None
    return region


@never_raises
def accuracy_reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """1.0 if the reply's answer equals the gold `answer` column under math-verify, else 0.0.

    The answer is taken like the harness does (after `</think>`, the last `\\boxed{}`), or from the
    `<answer>` tags of the R1-Zero template; an unclosed `<think>` or `<answer>` (truncated) scores 0.
    Rows whose `answer` is missing score 0.
    """
    golds = _column(kwargs, "answer", len(completions))
    items, slots = [], []
    for i, text in enumerate(full_texts(prompts, completions, kwargs)):
        answer = extract_answer_text(text)
        if answer is None or not answer.strip() or golds[i] in (None, ""):
            continue
        items.append((answer, golds[i]))
        slots.append(i)
    rewards = [0.0] * len(completions)
    for i, verdict in zip(slots, _math_grader().grade(items), strict=True):
        rewards[i] = 1.0 if verdict.correct else 0.0
    return rewards


@never_raises
def format_reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """1.0 if the reply is `<think>` non-empty reasoning `</think>` followed by a non-empty answer, with
    exactly one reasoning block; a prompt that already opened `<think>` (see `full_texts`) counts as the
    opening tag."""
    rewards = []
    for text in full_texts(prompts, completions, kwargs):
        block = single_block(text)
        ok = block is not None and block[0].strip() and block[1].strip()
        rewards.append(1.0 if ok else 0.0)
    return rewards


@never_raises
def r1_zero_format_reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """1.0 if the reply is `<think>reasoning</think> <answer>answer</answer>` (the R1-Zero template's
    format: both non-empty, one block each, nothing after `</answer>`), else 0.0. A prompt that already
    opened `<think>` (see `full_texts`) counts as the opening tag."""
    rewards = []
    for text in full_texts(prompts, completions, kwargs):
        block = single_block(text)
        tail = _R1_ZERO_TAIL.match(block[1]) if block else None
        ok = (block is not None and tail is not None and block[0].strip() and tail.group("answer").strip()
              and text.count("<answer>") == 1 and text.count("</answer>") == 1)
        rewards.append(1.0 if ok else 0.0)
    return rewards


@never_raises
def language_reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """R1's language-consistency reward: the share of the reasoning's words in the target language
    (`language` column, default "en"), by `r1eval.grading.language.language_consistency`; 0.0 for a
    reasoning without words."""
    languages = _column(kwargs, "language", len(completions), "en")
    rewards = []
    for text, language in zip(full_texts(prompts, completions, kwargs), languages, strict=False):
        text = reasoning_text(text)
        rewards.append(language_consistency(text, language or "en"))
    return rewards


@never_raises
def code_reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """1.0 if the answer's program (the last fenced block after `</think>`) passes every test of the `tests`
    column in the sandbox (`r1eval.grading.sandbox`), else 0.0. `tests` holds LiveCodeBench-style cases, a
    list (or its JSON) of {"input", "output", "testtype": "stdin" | "functional"}; functional tests call
    `Solution().<func_name>` from the `func_name` column (Python only). The block's fence tag decides its
    language (```python, ```cpp, ```java, ```csharp, ```javascript, ```typescript, ```php, ```bash:
    compiled once, run per stdin test); an untagged block is in the `code_language` column's language
    (default python). Programs run in parallel across cores; a
    completion whose grading fails scores 0.0 alone. Where no sandbox isolation is available the reward
    refuses to run code (0.0, with a warning) unless `r1eval.grading.sandbox.allow_unsafe_no_sandbox()`
    was called."""
    from r1eval.benches.code import decode_tests
    from r1eval.errors import UsageError
    from r1eval.grading import sandbox
    from r1eval.grading.code import code_and_language
    from r1eval.workers import thread_map

    tests_col = _column(kwargs, "tests", len(completions))
    func_col = _column(kwargs, "func_name", len(completions))
    language_col = _column(kwargs, "code_language", len(completions), "python")

    def one(args: tuple[Any, Any, Any, Any]) -> float:
        text, tests, func_name, default = args
        found = code_and_language(text, str(default or "python"))
        cases = decode_tests(tests) if tests else []
        if found is None or not cases:
            return 0.0
        language, code = found
        pairs = [(str(t["input"]), str(t["output"])) for t in cases]
        if any(t.get("testtype") == "functional" for t in cases):
            if not func_name or language != "python":
                return 0.0
            outcome = sandbox.run_functional_tests(code, func_name, pairs)
        else:
            outcome = sandbox.run_stdin_tests(code, pairs, language=language)
        return 1.0 if outcome.verdict == "passed" else 0.0

    def guarded(args: tuple[Any, Any, Any, Any]) -> float:
        try:
            return one(args)
        except UsageError:  # no isolation here: refuse the whole batch (never_raises logs it)
            raise
        except Exception as exc:  # noqa: BLE001 - one bad row (e.g. undecodable tests) scores 0 alone
            log.warning("code_reward: one completion could not be graded (%s: %s)", type(exc).__name__, exc)
            return 0.0

    jobs = list(zip(full_texts(prompts, completions, kwargs), tests_col, func_col, language_col, strict=False))
    return thread_map(guarded, jobs, workers=8)


REWARDS: dict[str, RewardFunc] = {
    "accuracy": accuracy_reward,
    "code": code_reward,
    "format": format_reward,
    "r1_zero_format": r1_zero_format_reward,
    "language": language_reward,
}


def weighted_sum(weights: dict[str, float]) -> RewardFunc:
    """One reward function: sum of the named rewards (keys of REWARDS) times their weights."""
    unknown = sorted(set(weights) - set(REWARDS))
    if unknown:
        raise ValueError(f"unknown rewards {unknown}; known: {', '.join(REWARDS)}")

    @never_raises
    def combined_reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
        total = [0.0] * len(completions)
        for name, weight in weights.items():
            for i, r in enumerate(REWARDS[name](prompts, completions, **kwargs)):
                total[i] += weight * r
        return total

    return combined_reward
