"""`r1eval loop RECIPE.yaml`: the plan a recipe makes, its bad inputs, and (slow) the whole loop at toy sizes with
a loopback OpenAI-compatible teacher and the embedded student."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest

from r1eval.cli import build_parser, main
from r1eval.loop import plan, read_recipe
from tests.test_backends_openai import MODEL, ScriptedServer

RECIPE = """\
name: toy-ablation
output: {out}
teacher: {{backend: openai, model: tiny-r1, base_url: "{url}", api_key_env: TOY_TEACHER_KEY}}
problems: {problems}
arms:
  distill: {{generate: {{n: 2, max_tokens: 64}}, filter: {{max_per_prompt: 1}}, train: {{preset: tiny-cpu, epochs: 1, max_steps: 1}}}}
  rl: {{grpo: {{preset: tiny-cpu, max_steps: 1, num_generations: 2, prompts_per_step: 2, max_completion_length: 16, use_vllm: false}}}}
  distill+rl: {{from: distill, grpo: {{preset: tiny-cpu, max_steps: 1, num_generations: 2, prompts_per_step: 2, max_completion_length: 16, use_vllm: false}}}}
eval: {{n: 1, max_tokens: 16, limit: 2, no_progress: true}}
report: {{out: {report}}}
"""


def write_problems(path: Path, count: int = 4) -> Path:
    rows = [{"id": f"p{i}", "problem": f"What is {10 + i} + {20 + i}?", "answer": str(30 + 2 * i)}
            for i in range(count)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_recipe(tmp_path: Path, url: str = "http://127.0.0.1:9/v1", **extra: str) -> Path:
    text = RECIPE.format(out=tmp_path / "runs", url=url, problems=write_problems(tmp_path / "train.jsonl"),
                         report=tmp_path / "report")
    path = tmp_path / "recipe.yaml"
    path.write_text(text + "".join(f"{k}: {v}\n" for k, v in extra.items()), encoding="utf-8")
    return path


def test_plan_runs_every_arm_then_evaluations_then_the_report(tmp_path):
    stages = plan(read_recipe(write_recipe(tmp_path)), build_parser())
    names = [s.name for s in stages]
    assert names == ["distill/generate", "distill/filter", "distill/train", "rl/grpo", "distill+rl/grpo",
                     "eval/base/train", "eval/distilled/train", "eval/rl/train", "eval/distill+rl/train", "report"]
    by_name = {s.name: s.argv for s in stages}
    runs = tmp_path / "runs"
    # the teacher's settings and the stage's own keys become that command's flags
    gen = by_name["distill/generate"]
    assert gen[:1] == ["run"]
    for flag, value in [("--model", "tiny-r1"), ("--backend", "openai"), ("-n", "2"), ("--max-tokens", "64"),
                        ("--api-key-env", "TOY_TEACHER_KEY"), ("--output", str(runs / "arms/distill/teacher"))]:
        assert gen[gen.index(flag) + 1] == value
    # distill+rl starts from the distill arm's SFT model; rl from the student (the embedded default: no --model)
    plus = by_name["distill+rl/grpo"]
    assert plus[plus.index("--model") + 1] == str(runs / "arms/distill/sft/model")
    assert "--model" not in by_name["rl/grpo"] and "--no-vllm" in by_name["rl/grpo"]
    # a flag's other name is a key too (`epochs` is --num-train-epochs' alias --epochs)
    train = by_name["distill/train"]
    assert train[train.index("--epochs") + 1] == "1"
    ev = by_name["eval/distill+rl/train"]
    assert ev[ev.index("--model") + 1] == str(runs / "arms/distill_plus_rl/grpo/final")
    assert "--no-progress" in ev and ev[ev.index("-n") + 1] == "1"
    report = by_name["report"]
    assert f"{runs / 'evals/distilled__train'}=distilled" in report and "--out" in report
    # every planned command is one the real parser accepts
    for stage in stages:
        build_parser().parse_args(stage.argv)


def test_dry_run_prints_commands_and_skips_finished_stages(tmp_path, capsys):
    recipe = write_recipe(tmp_path)
    filtered = tmp_path / "runs/arms/distill/filtered"
    filtered.mkdir(parents=True)
    (filtered / "filter_report.json").write_text("{}")
    assert main(["loop", str(recipe), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "# distill/filter (done, skipped)" in out and "# distill/train (to run)" in out
    commands = [line for line in out.splitlines() if line.startswith("r1eval ")]
    assert len(commands) == 10
    assert not (tmp_path / "runs/arms/distill/teacher").exists()  # a dry run writes nothing


@pytest.mark.parametrize("edit,message", [
    (lambda t: t.replace("max_per_prompt: 1", "max_per_promt: 1"),
     r"arms\.distill\.filter: unknown key 'max_per_promt' for `r1eval distill filter`"),
    (lambda t: t + "arm: {}\n", r"unknown key 'arm'; known keys"),
    (lambda t: t.replace("from: distill", "from: distil"), r"arms\.distill\+rl\.from names 'distil'"),
    (lambda t: t.replace("eval: {n: 1", "eval: {temprature: 1, n: 1"), r"eval: unknown key 'temprature'"),
    (lambda t: t.replace("arms:", "arms: [\n"), r"is not valid YAML"),
    (lambda t: t.replace("use_vllm: false}}\n  distill+rl", "use_vllm: 3}}\n  distill+rl"),
     r"arms\.rl\.grpo\.use_vllm: a switch takes true or false"),
    # values the stage's own command would refuse hours in: caught before anything runs
    (lambda t: t.replace("max_steps: 1, num_generations", "max_steps: lots, num_generations", 1),
     r"stage rl/grpo: .*--max-steps: expected a int, got 'lots'"),
    (lambda t: t.replace("{preset: tiny-cpu, max_steps: 1, num_gen", "{preset: tiny-gpu, max_steps: 1, num_gen", 1),
     r"stage rl/grpo: unknown preset 'tiny-gpu'"),
    (lambda t: t.replace("eval: {n: 1", "eval: {benches: [aime42], n: 1"), r"stage eval/base/aime42: unknown bench"),
    (lambda t: re.sub(r"problems: .*", "problems: /nonexistent/train.jsonl", t), r"not found: /nonexistent/train"),
])
def test_bad_recipes_are_one_line_exit_2(tmp_path, capsys, edit, message):
    path = write_recipe(tmp_path)
    path.write_text(edit(path.read_text()))
    assert main(["loop", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(message, err), err


def test_missing_recipe(tmp_path, capsys):
    assert main(["loop", str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def teacher_answer(body: dict) -> tuple[str, str, str]:
    """A correct, readable R1-style trace for 'What is a + b?'."""
    a, b = map(int, re.findall(r"\d+", body["messages"][-1]["content"])[:2])
    return f"{a} plus {b}: add the ones, then the tens.", f"The answer is \\boxed{{{a + b}}}.", "stop"


@pytest.mark.slow
def test_loop_end_to_end_then_resume_skips_everything(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TOY_TEACHER_KEY", "sk-toy")
    srv = ScriptedServer()
    srv.answer_for = teacher_answer
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        recipe = write_recipe(tmp_path, url=srv.url)
        assert main(["loop", str(recipe)]) == 0, capsys.readouterr().err[-3000:]
    finally:
        srv.shutdown()
        srv.server_close()
    runs = tmp_path / "runs"
    assert (runs / "arms/distill/teacher/summary.json").is_file()
    assert all(b["model"] == MODEL for b in srv.log)
    kept = (runs / "arms/distill/filtered/kept.jsonl").read_text().splitlines()
    assert len(kept) == 4  # one correct, readable trace per problem
    for arm in ("distill/sft", "rl/grpo", "distill_plus_rl/grpo"):
        assert (runs / "arms" / arm / "result.json").is_file(), arm
    for label in ("base", "distilled", "rl", "distill_plus_rl"):
        summary = json.loads((runs / f"evals/{label}__train/summary.json").read_text())
        assert summary["complete"] is True
    report = json.loads((tmp_path / "report/report.json").read_text())
    assert report
    log = [json.loads(line) for line in (runs / "loop.jsonl").read_text().splitlines()]
    assert [r["exit"] for r in log] == [0] * 10
    capsys.readouterr()
    # rerun: every stage is done; only the report is rewritten, and nothing asks the teacher again
    assert main(["loop", str(recipe)]) == 0
    err = capsys.readouterr().err
    assert err.count("done already, skipped") == 9
