"""The LLM judge end to end: `r1eval run` / `r1eval judge calibrate` against a loopback OpenAI-compatible
server started here, serving a policy (`tiny-r1`, scripted replies per question) and a deterministic judge
(`judge-1`, which reads the reference and the answer out of the prompt and grades by containment, unless a
test scripts its grade, a failure, or gibberish). Every request is logged, so the tests count what the
judge was asked."""

from __future__ import annotations

import csv
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from r1eval.judge.calibrate import wilson_interval
from r1eval.judge.stage import cohen_kappa
from r1eval.judge.templates import JudgeTemplate, load_template, parse_verdict
from tests.conftest import run_cli
from tests.test_cli_errors import assert_one_line_error

POLICY, JUDGE = "tiny-r1", "judge-1"


class LoopbackServer(ThreadingHTTPServer):
    """Policy and judge behind one /v1; the judge's behaviour is scripted per test."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.log: list[dict] = []
        self.policy_replies: dict[str, str] = {}  # question -> completion
        self.judge_grades: dict[str, str] = {}  # answer -> scripted letter (else containment)
        self.judge_fail = lambda prompt: None  # prompt -> HTTP status to fail with, or None
        self.judge_delay = 0.0
        self.judge_reasons = False  # a reasoning judge: <think> with a decoy letter before the verdict
        self.in_flight = self.max_in_flight = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def requests_to(self, model: str) -> list[dict]:
        return [b for b in self.log if b["model"] == model]

    def judge_reply(self, prompt: str) -> str:
        """A, B or C the way a careful judge would, from the prompt alone."""
        pair = re.search(r"Answer 1: (.*)\nAnswer 2: (.*)\n", prompt)
        if pair:  # pairwise: deliberately order-sensitive (is answer 1 inside answer 2?)
            return "A" if pair[1].strip().lower() in pair[2].lower() else "B"
        reference = re.findall(r"(?:Gold target|Reference answer): (.*)\n", prompt)[-1].strip()  # not an example
        answer = re.search(r"(?:Predicted answer|Model's final answer): (.*)\n", prompt, re.S)[1]
        answer = answer.split("\n\nReply with")[0].strip()
        if answer in self.judge_grades:
            return self.judge_grades[answer]
        if "don't know" in answer.lower():
            return "C"
        return "A" if reference.lower() in answer.lower() else "B"


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackServer

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send(200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "test"}
                                                    for m in (POLICY, JUDGE)]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        srv = self.server
        prompt = body["messages"][-1]["content"]
        with srv.lock:
            srv.log.append(body)
            srv.in_flight += body["model"] == JUDGE
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
        try:
            if body["model"] == JUDGE:
                status = srv.judge_fail(prompt)
                if status:
                    self._send(status, {"error": {"message": "judge overloaded"}})
                    return
                time.sleep(srv.judge_delay)
                text = srv.judge_reply(prompt)
                if srv.judge_reasons:
                    text = f"<think>\nIs it C? Let me compare once more.\n</think>\n\n{text}"
            else:
                text = srv.policy_replies[prompt]
            message = {"role": "assistant", "content": text}
            self._send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                             "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}})
        finally:
            with srv.lock:
                srv.in_flight -= body["model"] == JUDGE


@pytest.fixture
def cli(main_cli):
    """The CLI in-process (the loopback server runs in a thread of this process); slow tests use a subprocess."""
    return main_cli


@pytest.fixture
def server():
    srv = LoopbackServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


# SimpleQA rows (simple-evals' columns) and the policy's reply to each
SIMPLEQA = [
    ("What is the capital of France?", "Paris", "<think>\nEasy.\n</think>\n\nThe capital is Paris."),
    ("Who wrote Hamlet?", "William Shakespeare", "<think>\nHmm.\n</think>\n\nIt was Christopher Marlowe."),
    ("In which year did Apollo 11 land on the Moon?", "1969", "I don't know."),
    ("What is the largest planet of the Solar System?", "Jupiter", "<think>\nLet me list the planets and"),
    ("What is the chemical symbol of gold?", "Au", "<think>\nLatin aurum.\n</think>\n\nAu"),
]


def simpleqa_csv(tmp_path: Path, srv: LoopbackServer) -> Path:
    path = tmp_path / "simple_qa_test_set.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["metadata", "problem", "answer"])
        for question, answer, reply in SIMPLEQA:
            writer.writerow(["{'topic': 'test'}", question, answer])
            srv.policy_replies[question] = reply
    return path


def run_simpleqa(cli, srv: LoopbackServer, data: Path, out: Path, *extra: str):
    return cli("run", "--bench", "simpleqa", "--data", str(data), "--backend", "openai", "--model", POLICY,
               "--base-url", srv.url, "--output", str(out), "--judge", JUDGE, "--judge-base-url", srv.url,
               "--judge-max-retries", "1", "--no-progress", *extra)


def test_simpleqa_metrics_against_hand_computed_values(cli, server: LoopbackServer, tmp_path: Path) -> None:
    data = simpleqa_csv(tmp_path, server)
    server.judge_reasons = True
    proc = run_simpleqa(cli, server, data, tmp_path / "run", "--judge-concurrency", "2")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    # France A, Hamlet B, Apollo C (asked), Jupiter never answered (C, not asked), gold A
    assert summary["judge_verdicts"] == {"CORRECT": 2, "INCORRECT": 1, "NOT_ATTEMPTED": 2}
    assert summary["correct"] == pytest.approx(2 / 5) and summary["pass@1"] == pytest.approx(2 / 5)
    assert summary["incorrect"] == pytest.approx(1 / 5) and summary["not_attempted"] == pytest.approx(2 / 5)
    assert summary["correct_given_attempted"] == pytest.approx(2 / 3)
    assert summary["f1"] == pytest.approx(2 * (2 / 3) * (2 / 5) / (2 / 3 + 2 / 5))  # = 0.5
    lo, hi = summary["f1_ci95"]
    assert 0.0 <= lo <= 0.5 <= hi <= 1.0
    assert summary["judge_errors"] == 0 and summary["judge_asked"] == 4
    assert summary["metrics_over_samples"]["correct_given_attempted"] == 3
    # only the answer after </think> reaches the judge, and the judge samples greedily
    judge_requests = server.requests_to(JUDGE)
    assert len(judge_requests) == 4 and all(b["temperature"] == 0.0 for b in judge_requests)
    assert not any("Easy." in b["messages"][0]["content"] for b in judge_requests)
    samples = {json.loads(line)["problem_id"]: json.loads(line) for line in (tmp_path / "run" / "samples.jsonl")
               .read_text().splitlines()}
    assert samples["1"]["detail"]["judge"]["reply"].endswith("</think>\n\nB") and samples["1"]["correct"] is False
    assert samples["1"]["detail"]["judge"]["template"] == "simpleqa.v1"
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["judge"]["template_sha256"] == load_template("simpleqa").sha256
    assert config["judge"]["sampling"]["temperature"] == 0.0
    assert config["judge_effective_sampling"]["temperature"] == 0.0 and config["judge_backend_info"]["backend"] == "openai"
    # the judge's requests in flight stayed within --judge-concurrency
    assert server.max_in_flight <= 2

    # a resume asks neither the policy nor the judge anything
    before = len(server.log)
    assert run_simpleqa(cli, server, data, tmp_path / "run", "--judge-concurrency", "2").returncode == 0
    assert len(server.log) == before
    # the judge's sampling and template are part of the resume identity
    assert_one_line_error(run_simpleqa(cli, server, data, tmp_path / "run", "--judge-temperature", "0.5"),
                          "different judge")
    assert len(server.log) == before


def test_judge_transient_then_permanent_then_gibberish(cli, server: LoopbackServer, tmp_path: Path) -> None:
    data = simpleqa_csv(tmp_path, server)
    out = tmp_path / "run"
    # transient: the first judge request of each prompt gets a 503, the retry succeeds
    failed: set[str] = set()

    def once(prompt: str) -> int | None:
        if prompt not in failed:
            failed.add(prompt)
            return 503
        return None

    server.judge_fail = once
    assert run_simpleqa(cli, server, data, out).returncode == 0
    assert len(server.requests_to(JUDGE)) == 8
    assert json.loads((out / "summary.json").read_text())["correct"] == pytest.approx(2 / 5)

    # permanent: the judge is down for the Hamlet question only; the rest is judged and kept
    server.judge_fail = lambda prompt: 503 if "Hamlet" in prompt else None
    out2 = tmp_path / "run2"
    proc = run_simpleqa(cli, server, data, out2)
    assert_one_line_error(proc, f"judge {JUDGE} at {server.url}", "1 samples lack a judge verdict", "rerun")
    kept = [json.loads(line) for line in (out2 / "samples.jsonl").read_text().splitlines()]
    assert sorted(s["problem_id"] for s in kept) == ["0", "2", "3", "4"]
    # the rerun generates nothing and asks the judge only the missing verdict
    server.judge_fail = lambda prompt: None
    policy_before, judge_before = len(server.requests_to(POLICY)), len(server.requests_to(JUDGE))
    assert run_simpleqa(cli, server, data, out2).returncode == 0
    assert len(server.requests_to(POLICY)) == policy_before
    new = server.requests_to(JUDGE)[judge_before:]
    assert len(new) == 1 and "Hamlet" in new[0]["messages"][0]["content"]

    # gibberish: an unparseable reply is a judge_error, left out of the SimpleQA denominators
    server.judge_grades = {"Au": "the weather is nice today"}
    out3 = tmp_path / "run3"
    assert run_simpleqa(cli, server, data, out3).returncode == 0
    summary = json.loads((out3 / "summary.json").read_text())
    assert summary["judge_errors"] == 1 and summary["judged_samples"] == 4
    assert summary["correct"] == pytest.approx(1 / 4) and summary["not_attempted"] == pytest.approx(2 / 4)
    assert summary["correct_given_attempted"] == pytest.approx(1 / 2)
    assert summary["f1"] == pytest.approx(1 / 3)
    assert summary["metrics_over_samples"]["correct"] == 4


def test_bad_judge_input_is_one_line_before_generation(cli, server: LoopbackServer, tmp_path: Path) -> None:
    data = simpleqa_csv(tmp_path, server)
    base = ("run", "--bench", "simpleqa", "--data", str(data), "--backend", "openai", "--model", POLICY,
            "--base-url", server.url, "--output", str(tmp_path / "run"), "--no-progress")
    assert_one_line_error(cli(*base), "graded by an LLM judge", "--judge MODEL")
    # a judge server that is not there
    assert_one_line_error(cli(*base, "--judge", JUDGE, "--judge-base-url", "http://127.0.0.1:9/v1",
                              "--judge-max-retries", "0"), f"judge {JUDGE}", "--judge-base-url")
    # a template without the fields grading needs
    bad = tmp_path / "template.txt"
    bad.write_text("Is this right? {answer}\nReply A, B or C.")
    assert_one_line_error(cli(*base, "--judge", JUDGE, "--judge-base-url", server.url, "--judge-template", str(bad)),
                          "lacks {question}, {reference}")
    assert_one_line_error(cli(*base, "--judge", JUDGE, "--judge-base-url", server.url, "--judge-temperature", "9"),
                          "--judge-temperature must be in [0, 5]")
    assert server.requests_to(POLICY) == []


MATH = [  # (id, gold, reply, judge's scripted letter)
    ("m0", "4", "<think>\n2+2\n</think>\n\n\\boxed{4}", None),  # both correct
    ("m1", "4", "<think>\n2+2\n</think>\n\nThe answer is two squared.", "A"),  # rule wrong, judge correct
    ("m2", "7", "<think>\n3+4\n</think>\n\n\\boxed{8}", None),  # both wrong
    ("m3", "10", "<think>\n5+5\n</think>\n\n\\boxed{10}", "B"),  # rule correct, judge wrong
]


def math_file(tmp_path: Path, srv: LoopbackServer) -> Path:
    from r1eval.benches.math import math_prompt

    path = tmp_path / "sums.jsonl"
    path.write_text("".join(json.dumps({"id": i, "problem": f"Problem {i}", "answer": gold}) + "\n"
                            for i, gold, _, _ in MATH))
    for i, _, reply, letter in MATH:
        srv.policy_replies[math_prompt(f"Problem {i}")[0]["content"]] = reply
        if letter:
            srv.judge_grades[reply.split("\n\n", 1)[1]] = letter
    return path


@pytest.mark.parametrize("cascade", [False, True])
def test_second_opinion_and_cascade_on_math(cli, server: LoopbackServer, tmp_path: Path, cascade: bool) -> None:
    data = math_file(tmp_path, server)
    out = tmp_path / "run"
    proc = cli("run", "--bench", str(data), "-n", "1", "--backend", "openai", "--model", POLICY, "--base-url",
               server.url, "--output", str(out), "--judge", JUDGE, "--judge-base-url", server.url, "--no-progress",
               *(["--judge-decides-negatives"] if cascade else []))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    # rule [1, 0, 0, 1], judge [1, 1, 0, 0]: agreement 2/4, kappa (0.5 - 0.5) / (1 - 0.5) = 0
    assert summary["judge_agreement"] == pytest.approx(0.5) and summary["judge_kappa"] == pytest.approx(0.0)
    assert summary["judge_compared_samples"] == 4
    samples = {json.loads(line)["problem_id"]: json.loads(line) for line in (out / "samples.jsonl")
               .read_text().splitlines()}
    assert samples["m1"]["detail"]["judge"]["verdict"] == "CORRECT"
    assert samples["m3"]["correct"] is True  # the rule's positive always stands
    if cascade:
        assert summary["pass@1"] == pytest.approx(3 / 4) and summary["judge_overrides"] == 1
        assert samples["m1"]["correct"] is True and samples["m1"]["detail"]["rule_correct"] is False
    else:
        assert summary["pass@1"] == pytest.approx(2 / 4) and "judge_overrides" not in summary
        assert samples["m1"]["correct"] is False


def test_calibrate_against_a_labelled_file(cli, server: LoopbackServer, tmp_path: Path) -> None:
    rows = [  # (reference, completion, label); the judge grades by containment
        ("Paris", "<think>x</think> Paris", True),  # A, agrees
        ("Paris", "<think>x</think> Lyon", False),  # B, agrees
        ("42", "<think>x</think> forty-two", True),  # B: a false negative
        ("7", "<think>x</think> 17", False),  # A ("7" in "17"): a false positive
        ("3", "<think>x</think> I don't know", True),  # C counts as not correct: a false negative
        ("9", "<think>never closed", False),  # no answer: NOT_ATTEMPTED without asking, agrees
    ]
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text("".join(json.dumps({"question": f"Q{i}", "reference": r, "completion": c, "label": lab})
                                + "\n" for i, (r, c, lab) in enumerate(rows)))
    out = tmp_path / "cal"
    args = ("judge", "calibrate", "--input", str(labelled), "--output", str(out), "--judge", JUDGE,
            "--judge-base-url", server.url)
    proc = cli(*args)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "calibration.json").read_text())
    assert report["rows_scored"] == 6 and report["judge_errors"] == 0 and report["not_sent_to_judge"] == 1
    assert report["agreement"] == pytest.approx(3 / 6)
    assert report["false_positive_rate"] == pytest.approx(1 / 3) and report["label_false_rows"] == 3
    assert report["false_negative_rate"] == pytest.approx(2 / 3) and report["label_true_rows"] == 3
    assert report["agreement_ci95"] == pytest.approx(wilson_interval(3, 6))
    assert report["kappa"] == pytest.approx(cohen_kappa([True, False, True, False, True, False],
                                                        [True, False, False, True, False, False]))
    assert "agreement with labels" in proc.stdout
    # the verdicts are cached: a rerun asks nothing
    asked = len(server.requests_to(JUDGE))
    assert asked == 5 and cli(*args).returncode == 0 and len(server.requests_to(JUDGE)) == asked

    # a pairwise template runs both orders; this judge is order-sensitive
    proc = cli("judge", "calibrate", "--input", str(labelled), "--output", str(tmp_path / "cal2"), "--judge", JUDGE,
               "--judge-base-url", server.url, "--judge-template", "pairwise")
    assert proc.returncode == 0, proc.stderr
    pairwise = json.loads((tmp_path / "cal2" / "calibration.json").read_text())
    assert pairwise["position_compared_rows"] == 6
    # reference-first: "Paris" in "Paris" A; "Paris" in "Lyon" B; "42" in "forty-two" B; "7" in "17" A;
    # "3" in "I don't know" B. Answer-first: "paris" in "Paris" A; "lyon" B; "forty-two" B; "17" in "7" B;
    # "i don't know" in "3" B: one flip (row 3)
    assert pairwise["position_flip_rate"] == pytest.approx(1 / 6)

    # a labelled file without labels is one line, before the judge is asked
    unlabelled = tmp_path / "unlabelled.jsonl"
    unlabelled.write_text(json.dumps({"question": "Q", "reference": "1", "completion": "1"}) + "\n")
    before = len(server.log)
    assert_one_line_error(cli("judge", "calibrate", "--input", str(unlabelled), "--judge", JUDGE,
                              "--judge-base-url", server.url), "row 1 has no 'label'")
    assert len(server.log) == before


@pytest.mark.parametrize("reply, grade", [
    ("A", "CORRECT"), ("B", "INCORRECT"), ("C", "NOT_ATTEMPTED"), (" (A) ", "CORRECT"), ("B: INCORRECT", "INCORRECT"),
    ("**C**", "NOT_ATTEMPTED"), ("Grade: A", "CORRECT"), ("<think>\nIt says B? No.\n</think>\nA", "CORRECT"),
    ("The answer is INCORRECT.", "INCORRECT"), ("NOT ATTEMPTED", "NOT_ATTEMPTED"),
    ("A correct answer would need more", None), ("CORRECT or INCORRECT", None), ("", None),
    ("<think>\nStill weighing A against B", None), ("blah", None),
])
def test_parse_verdict(reply: str, grade: str | None) -> None:
    assert parse_verdict(reply)[0] == grade


def test_template_rendering_keeps_other_braces() -> None:
    template = JudgeTemplate("t", "Q: {question}\nR: {reference}\nA: {answer}\n{not_a_field} \\frac{1}{2}")
    text = template.render(question="{answer}", reference="\\boxed{4}", answer="x")
    assert text == "Q: {answer}\nR: \\boxed{4}\nA: x\n{not_a_field} \\frac{1}{2}"
    assert load_template("pairwise").check(pairwise_allowed=True).pairwise


def test_audit_adds_the_judge_as_a_grader(cli, server: LoopbackServer, tmp_path: Path) -> None:
    math_file(tmp_path, server)  # scripts the judge's grades for the MATH replies
    graded = tmp_path / "graded.jsonl"
    graded.write_text("".join(json.dumps({"id": i, "problem": f"Problem {i}", "answer": gold, "completion": reply})
                              + "\n" for i, gold, reply, _ in MATH))
    args = ("audit", str(graded), "--out", str(tmp_path / "audit"), "--workers", "1", "--no-progress", "--judge", JUDGE,
            "--judge-base-url", server.url)
    proc = cli(*args)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "audit" / "audit_summary.json").read_text())
    assert "judge" in summary["graders"] and summary["judge"]["model"] == JUDGE
    assert summary["accuracy"]["judge"] == pytest.approx(2 / 4)  # m0, m1 CORRECT; m2, m3 INCORRECT
    assert summary["agreement"]["r1eval vs judge"] == pytest.approx(2 / 4)
    assert summary["by_kind"]["judge_differs"] == 2
    flagged = {json.loads(line)["id"] for line in (tmp_path / "audit" / "audit.jsonl").read_text().splitlines()}
    assert flagged == {"m1", "m3"}
    asked = len(server.requests_to(JUDGE))
    assert asked == 4 and cli(*args).returncode == 0 and len(server.requests_to(JUDGE)) == asked  # cached


def test_distill_filter_keeps_undecidable_traces_the_judge_accepts(cli, server: LoopbackServer,
                                                                   tmp_path: Path) -> None:
    rows = [  # (id, gold, completion)
        ("d0", "Paris", "<think>\nThe capital of France is Paris, a big old city.\n</think>\n\nIt is Paris."),
        ("d1", "Paris", "<think>\nI recall the capital is Lyon, a big old city.\n</think>\n\nIt is Lyon."),
        ("d2", "12", "<think>\nLet me multiply three by four carefully here.\n</think>\n\nThe answer is \\boxed{13}."),
        ("d3", "12", "<think>\nLet me multiply three by four carefully here.\n</think>\n\nWe get a dozen in total."),
    ]
    server.judge_grades = {"We get a dozen in total.": "A"}
    traces = tmp_path / "traces.jsonl"
    traces.write_text("".join(json.dumps({"id": i, "problem": f"Question {i}?", "answer": gold, "completion": c})
                              + "\n" for i, gold, c in rows))
    out = tmp_path / "filtered"
    proc = cli("distill", "filter", "--input", str(traces), "--output", str(out), "--judge", JUDGE,
               "--judge-base-url", server.url)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "filter_report.json").read_text())
    # d2's wrong \boxed{13} is a rule verdict: the judge is not asked about it
    assert report["judge"]["asked_about"] == 3 and report["judge"]["verdicts"]["CORRECT"] == 2
    assert report["judge"]["verdicts"]["INCORRECT"] == 1 and report["judge"]["errors"] == 0
    kept = {json.loads(line)["problem_id"] for line in (out / "kept.jsonl").read_text().splitlines()}
    assert kept == {"d0", "d3"}
    assert "judge judge-1" in (out / "filter_report.md").read_text()
    assert not any("\\boxed{13}" in b["messages"][0]["content"] for b in server.requests_to(JUDGE))


@pytest.mark.slow
def test_calibrate_the_embedded_model_as_a_local_judge(tmp_path: Path) -> None:
    cli = run_cli  # a subprocess, so OMP_NUM_THREADS applies
    """The transformers backend as judge (the embedded SmolLM2-135M), greedy, on three labelled rows."""
    rows = [json.loads(line) for line in (Path(__file__).parent / "grading_corpus" / "judge_math.jsonl")
            .read_text().splitlines()[:3]]
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = cli("judge", "calibrate", "--input", str(labelled), "--output", str(tmp_path / "cal"), "--judge",
               "embedded", "--judge-backend", "transformers", "--judge-max-tokens", "4", "--no-progress",
               env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "cal" / "calibration.json").read_text())
    assert report["rows"] == 3 and report["rows_scored"] + report["judge_errors"] == 3
    assert report["judge"]["backend"] == "transformers" and report["judge"]["sampling"]["temperature"] == 0.0
    replies = [json.loads(line) for line in (tmp_path / "cal" / "verdicts.jsonl").read_text().splitlines()]
    assert len(replies) == 3 and all(isinstance(r["reply"], str) for r in replies)


def test_grader_judge_on_a_jsonl_bench(cli, server: LoopbackServer, tmp_path: Path) -> None:
    """`--grader judge`: a problem/answer JSONL as free-form questions (the question alone is the prompt),
    the judge's verdict is the score."""
    data = math_file(tmp_path, server)
    for i, _, reply, _ in MATH:
        server.policy_replies[f"Problem {i}"] = reply
    out = tmp_path / "run"
    proc = cli("run", "--bench", str(data), "--grader", "judge", "--backend", "openai", "--model", POLICY,
               "--base-url", server.url, "--output", str(out), "--judge", JUDGE, "--judge-base-url", server.url,
               "--no-progress")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pass@1"] == pytest.approx(2 / 4) and summary["correct"] == pytest.approx(2 / 4)
    assert summary["judge"]["mode"] == "grader" and summary["judge"]["template"] == "answer-match.v1"
    assert [b["messages"][0]["content"] for b in server.requests_to(POLICY)][0].startswith("Problem m")
    # without a judge, --grader judge is one line
    assert_one_line_error(cli("run", "--bench", str(data), "--grader", "judge", "--backend", "openai", "--model",
                              POLICY, "--base-url", server.url, "--output", str(tmp_path / "r2")), "--judge MODEL")


@pytest.mark.slow
def test_run_with_a_local_judge_model(server: LoopbackServer, tmp_path: Path) -> None:
    """The embedded SmolLM2 as a transformers judge behind `r1eval run` (started after the policy's
    generation): every sample gets a verdict or a judge error, nothing is lost."""
    cli = run_cli  # a subprocess, so OMP_NUM_THREADS applies
    data = simpleqa_csv(tmp_path, server)
    proc = cli("run", "--bench", "simpleqa", "--data", str(data), "--limit", "2", "--backend", "openai", "--model",
               POLICY, "--base-url", server.url, "--output", str(tmp_path / "run"), "--judge", "embedded",
               "--judge-backend", "transformers", "--judge-max-tokens", "4", "--no-progress",
               env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["num_samples"] == 2 and summary["judge_asked"] == 2
    assert summary["judged_samples"] + summary["judge_errors"] == 2
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["judge"]["backend"] == "transformers" and config["judge_backend_info"]["backend"] == "transformers"
