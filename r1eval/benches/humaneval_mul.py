"""HumanEval-Mul: HumanEval in Python, Java, C++, C#, JavaScript, TypeScript, PHP and Bash (DeepSeek-R1's
and DeepSeek-Coder's code column), graded in r1eval's sandbox.

Data: MultiPL-E's translations (`humaneval-{java,cpp,cs,js,ts,php,sh}.jsonl`: name, prompt, tests) and
HumanEval-X's Python file (`humaneval-python.jsonl`: task_id `Python/N`, prompt, test), as DeepSeek-Coder
redistributes them; bundled, or `--data DIR` holding the same files. Problem ids are `LANG/NAME`
(`cpp/HumanEval_23_strlen`, `python/HumanEval_0_has_close_elements`). `humaneval_mul` runs all eight
languages, `humaneval_mul:cpp` (or `humaneval_mul:cpp,java`) a subset.

A reply is graded the way DeepSeek-Coder's instruct evaluation reads it (see r1eval/grading/multipl_e.py);
Python goes through HumanEval's own path (tests in the sandbox's judge process). summary.json: `pass@1` is
the mean over languages (as the papers report HumanEval-Mul), `pass@1_pooled` the mean over all problems,
`per_language` each language's pass@1, pass@k and problem count.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from r1eval.benches.base import Bench, LoadOptions, SandboxedBench
from r1eval.errors import ConfigError, UsageError
from r1eval.records import Problem, Sample, Verdict, read_jsonl
from r1eval.workers import thread_map

LANGUAGES = ("python", "java", "cpp", "cs", "js", "ts", "php", "sh")  # the data files' suffixes, papers' order
PREFIX = "humaneval_mul"
BUNDLED = Path(__file__).parent / "data" / "humaneval_mul"
TIMEOUT_S = 10.0  # per program: JVM and mono start-up included
MEMORY_MB = 1024
# DeepSeek-Coder's instruct prompt (Evaluation/HumanEval/eval_instruct.py), with its language names
INSTRUCTION = ("Please help me to complete the function. Use the given packages only and DO NOT refer any new "
               "package. Please return all completed function in a codeblock. \nHere is the given code to do "
               "completion:\n```{fence}\n{prompt}\n```")
FENCE_NAMES = {"python": "python", "java": "java", "cpp": "cpp", "cs": "csharp", "js": "javascript",
               "ts": "typescript", "php": "php", "sh": "bash"}
GRADER_VERSION = "1"


def parse_languages(name: str) -> tuple[str, ...]:
    """`humaneval_mul` -> all eight; `humaneval_mul:cpp,java` -> those (UsageError for unknown ones)."""
    if name == PREFIX:
        return LANGUAGES
    wanted = [w.strip().lower() for w in name.split(":", 1)[1].split(",") if w.strip()]
    unknown = [w for w in wanted if w not in LANGUAGES]
    if unknown or not wanted:
        raise UsageError(f"{name}: unknown language {', '.join(unknown) or '(none)'}; use {PREFIX}:LANG[,LANG] "
                         f"with LANG among {', '.join(LANGUAGES)}")
    return tuple(dict.fromkeys(wanted))


def _python_name(row: dict[str, Any]) -> tuple[str, str]:
    """(MultiPL-E-style name, entry point) of a HumanEval-X Python row: ('HumanEval_0_has_close_elements', ...)."""
    number = str(row.get("task_id", "")).split("/")[-1]
    names = re.findall(r"^def\s+(\w+)\s*\(", row.get("declaration") or row["prompt"], re.MULTILINE)
    called = re.search(r"check\((\w+)\)\s*$", row.get("test", "").strip())
    entry = called.group(1) if called else (names[-1] if names else "")
    return f"HumanEval_{number}_{entry}", entry


def _problems(language: str, rows: list[dict[str, Any]], source: str) -> list[Problem]:
    problems = []
    for i, row in enumerate(rows, 1):
        where = f"{source}: row {i}"
        if language == "python":
            if not (row.get("prompt") and row.get("test") and row.get("task_id")):
                raise UsageError(f"{where} needs task_id, prompt and test (HumanEval-X's Python format)")
            name, entry = _python_name(row)
            meta = {"language": language, "prompt": row["prompt"], "test": row["test"], "entry_point": entry}
        else:
            tests = row.get("tests") or row.get("test")
            if not (row.get("name") and row.get("prompt") and tests):
                raise UsageError(f"{where} needs name, prompt and tests (MultiPL-E's format)")
            name = str(row["name"])
            meta = {"language": language, "prompt": row["prompt"], "tests": tests}
        text = INSTRUCTION.format(fence=FENCE_NAMES[language], prompt=row["prompt"].strip())
        problems.append(Problem(f"{language}/{name}", [{"role": "user", "content": text}], None, meta))
    return problems


def _language_ci(per_language: dict[str, list[float]], iters: int = 2000, seed: int = 0) -> list[float]:
    """95% percentile bootstrap CI of the mean over languages (problems resampled within each language)."""
    rng = np.random.default_rng(seed)
    means = np.zeros(iters)
    for values in per_language.values():
        arr = np.asarray(values, dtype=float)
        means += arr[rng.integers(0, arr.size, size=(iters, arr.size))].mean(axis=1)
    means /= max(1, len(per_language))
    lo, hi = np.quantile(means, [0.025, 0.975])
    return [float(lo), float(hi)]


@dataclass
class HumanEvalMulBench(SandboxedBench):
    """HumanEval-Mul over `languages`; pass@1 is the mean over languages."""

    languages: tuple[str, ...] = LANGUAGES
    timeout_s: float = TIMEOUT_S
    memory_mb: int = MEMORY_MB
    data_files: dict[str, str] = field(default_factory=dict, repr=False)
    loaded_languages: tuple[str, ...] = ()  # the languages the last load found data for

    @classmethod
    def named(cls, name: str) -> HumanEvalMulBench:
        languages = parse_languages(name)
        title = "all eight languages" if languages == LANGUAGES else ", ".join(languages)
        return cls(name, f"HumanEval-Mul ({title}; MultiPL-E programs in the sandbox, pass@1 = mean over "
                   "languages)", default_n=4, kind="code", languages=languages)

    def load(self, opts: LoadOptions) -> list[Problem]:
        """The languages' problems. `humaneval_mul` with `--data DIR` takes the languages whose files DIR
        holds (and says which are missing); a named subset (`humaneval_mul:cpp,java`) needs all of its files."""
        from r1eval.grading.sandbox.languages import require_toolchains

        if opts.hub:
            raise UsageError(f"{self.name} reads its data from the package or `data` DIR, not from the hub")
        directory = opts.data if opts.data is not None else BUNDLED
        if not directory.is_dir():
            raise ConfigError("data", f"{directory} must be a directory holding humaneval-{{LANG}}.jsonl files")
        present = [lang for lang in self.languages if (directory / f"humaneval-{lang}.jsonl").is_file()]
        absent = [lang for lang in self.languages if lang not in present]
        if absent and (self.name != PREFIX or not present):
            raise UsageError(f"{directory / f'humaneval-{absent[0]}.jsonl'} not found: {self.name} needs "
                             f"humaneval-{{{','.join(absent)}}}.jsonl in `data` DIR")
        if absent:
            print(f"{self.name}: {directory} has no data for {', '.join(absent)}; pass@1 is the mean over "
                  f"{', '.join(present)}", file=sys.stderr)
        require_toolchains(present)  # one line naming the Debian packages, before any generation
        self.loaded_languages = tuple(present)
        problems = []
        for language in present:
            path = directory / f"humaneval-{language}.jsonl"
            self.data_files[language] = str(path)
            problems += _problems(language, read_jsonl(path), str(path))
        return problems

    def provenance(self) -> dict[str, Any]:
        from r1eval.grading import sandbox

        return {"grader": {"name": "r1eval-sandbox-multipl-e",
                           "version": f"{sandbox.SANDBOX_VERSION}.{GRADER_VERSION}"},
                "isolation": sandbox.isolation(), "languages": list(self.loaded_languages or self.languages)}

    def grade(self, items: Sequence[tuple[Problem, str]]) -> list[Verdict]:
        return thread_map(self._grade_one, items)

    def _grade_one(self, item: tuple[Problem, str]) -> Verdict:
        from r1eval.grading import multipl_e, sandbox
        from r1eval.grading.code import humaneval_source
        from r1eval.grading.sandbox.builds import run_native

        problem, completion = item
        meta = problem.meta
        language = meta["language"]
        if language == "python":
            source = humaneval_source(meta["prompt"], meta["entry_point"], completion)
            if source is None:
                return Verdict(None, False, {"verdict": "no_code", "language": language,
                                             "error": "no ```python block after the reasoning"})
            res = sandbox.run_program(source, test_code=meta["test"], test_setup=meta["prompt"],
                                      entry_point=meta["entry_point"], timeout_s=self.timeout_s,
                                      memory_mb=self.memory_mb)
            verdict, detail = res.verdict, res.detail
        else:
            source = multipl_e.program(language, meta["prompt"], meta["tests"], completion)
            if source is None:
                return Verdict(None, False, {"verdict": "no_code", "language": language,
                                             "error": f"no ```{FENCE_NAMES[language]} block after the reasoning"})
            res = run_native(language, source, timeout_s=self.timeout_s, memory_mb=self.memory_mb,
                             stdout_limit=1 << 20)
            verdict, detail = res.verdict, res.detail
            if verdict == "runtime_error" and multipl_e.failed_assertion(language, res.stderr, res.exit_code):
                verdict, detail = "wrong_answer", f"a test's assertion failed ({detail})"
            if verdict == "runtime_error":  # say why (PHP prints its fatal errors on stdout)
                why = [line for line in (res.stderr or res.stdout or "").splitlines() if line.strip()]
                detail = f"{detail}: {why[-1].strip()[:300]}" if why else detail
            if verdict == "passed" and not multipl_e.finished(res.stdout):
                verdict, detail = "runtime_error", "the program ended before its tests finished (exit 0, no completion marker)"
        out = {"verdict": verdict, "language": language, "wall_s": res.wall_s}
        if detail:
            out["error"] = detail
        return Verdict(source, verdict == "passed", out)

    def extra_summary(self, summary: dict[str, Any], samples: Sequence[Sample],
                      problems: Sequence[Problem]) -> dict[str, Any]:
        """`pass@1` = mean over languages (the pooled mean moves to `pass@1_pooled`), `per_language`."""
        from r1eval.metrics import ks_up_to, pass_at_k

        languages = self.loaded_languages or self.languages
        by_language: dict[str, list[dict[str, Any]]] = {}
        for row in summary["per_problem"]:
            by_language.setdefault(row["problem_id"].split("/", 1)[0], []).append(row)
        per_language = {}
        for language in languages:
            rows = by_language.get(language, [])
            if not rows:
                per_language[language] = {"pass@1": None, "pass@k": {}, "num_problems": 0,
                                          "note": "no graded samples"}
                continue
            min_n = min(r["n"] for r in rows)
            per_language[language] = {
                "pass@1": float(np.mean([r["pass@1"] for r in rows])),
                "pass@k": {str(k): float(np.mean([pass_at_k(r["n"], r["correct"], k) for r in rows]))
                           for k in ks_up_to(min_n)},
                "num_problems": len(rows)}
        scored = {lang: [r["pass@1"] for r in by_language[lang]] for lang in languages if by_language.get(lang)}
        extra: dict[str, Any] = {"per_language": per_language, "pass@1_pooled": summary.get("pass@1"),
                                 "pass@1_over": "mean over languages"}
        if scored:
            extra["pass@1"] = float(np.mean([np.mean(v) for v in scored.values()]))
            extra["pass@1_ci95"] = _language_ci(scored)
            shared = set.intersection(*(set(per_language[lang]["pass@k"]) for lang in scored))
            extra["pass@k"] = {k: float(np.mean([per_language[lang]["pass@k"][k] for lang in scored]))
                               for k in sorted(shared, key=int)}
        if len(scored) < len(languages):
            extra["pass@1_note"] = (f"mean over {len(scored)} of {len(languages)} languages "
                                    "(the others have no graded samples)")
        return extra


def humaneval_mul_benches() -> list[Bench]:
    """`humaneval_mul` (all eight languages); `humaneval_mul:LANG[,LANG]` comes from `named`."""
    return [HumanEvalMulBench.named(PREFIX)]


def per_language_lines(runs: Sequence[tuple[str, str, dict[str, Any]]]) -> list[str]:
    """The report's per-language table (Markdown lines) for the runs whose summary has `per_language`:
    one row per (label, bench, summary), one pass@1 column per language, then the mean over languages."""
    rows = [(label, bench, s) for label, bench, s in runs if isinstance(s.get("per_language"), dict)]
    if not rows:
        return []
    languages = [lang for lang in LANGUAGES if any(lang in s["per_language"] for _, _, s in rows)]

    def cell(entry: dict[str, Any] | None) -> str:
        if not entry or entry.get("pass@1") is None:
            return "-"
        return f"{entry['pass@1']:.3f} ({entry['num_problems']})"

    lines = ["## HumanEval-Mul per language", "",
             "pass@1 per language (problems in parentheses); the bench's pass@1 is the mean over its languages, "
             "as DeepSeek-R1 reports HumanEval-Mul.", "",
             "| model | bench | " + " | ".join(FENCE_NAMES[lang] for lang in languages) + " | mean |",
             "|" + "---|" * (len(languages) + 3)]
    for label, bench, s in rows:
        mean = s.get("pass@1")
        lines.append(f"| {label} | {bench} | " + " | ".join(cell(s["per_language"].get(lang)) for lang in languages)
                     + f" | {'-' if mean is None else f'{mean:.3f}'} |")
    return [*lines, ""]
