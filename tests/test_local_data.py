"""`--data` beyond JSONL for the hub-hosted benches: `datasets` save_to_disk directories, parquet files and
directories, local hub cache snapshots (and `--hub` answered from that cache offline), `--revision`, and the
resolved source recorded for config.json. LiveCodeBench uses tests/data/lcb_fixture.jsonl; GPQA uses our own
questions (never GPQA's)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import datasets
import pytest

from r1eval.benches import LoadOptions, get_bench
from r1eval.benches.datasource import data_files, read_local
from r1eval.errors import UsageError
from r1eval.records import read_jsonl

DATA = Path(__file__).resolve().parent / "data"
LCB_FIXTURE = DATA / "lcb_fixture.jsonl"
CF_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "codeforces_small.jsonl"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER_COMMIT = "fedcba9876543210fedcba9876543210fedcba98"
FAKE_GPQA = [  # our own questions in the GPQA CSV columns
    {"Record ID": "g1", "Question": "Which gas do plants take in for photosynthesis?", "Correct Answer": "CO2",
     "Incorrect Answer 1": "O2", "Incorrect Answer 2": "N2", "Incorrect Answer 3": "He"},
    {"Record ID": "g2", "Question": "How many legs does an insect have?", "Correct Answer": "6",
     "Incorrect Answer 1": "8", "Incorrect Answer 2": "4", "Incorrect Answer 3": "10"},
]
# replies to the LCB fixture's in-window problems (see tests/test_code_benches.py for the verdict table)
LCB_ROWS = [
    {"problem_id": "abc900_a", "completion": "<think>add</think>\n```python\na, b = map(int, input().split())\n"
                                             "print(a + b)\n```"},
    {"problem_id": "abc900_a", "completion": "<think>sub</think>\n```python\na, b = map(int, input().split())\n"
                                             "print(a - b)\n```"},
    {"problem_id": "3900", "completion": "```python\nclass Solution:\n    def mergeSorted(self, a, b):\n"
                                         "        return sorted(a + b)\n```"},
]


def lcb_rows() -> list[dict]:
    return read_jsonl(LCB_FIXTURE)


def problems_key(problems) -> list:
    return [(p.id, p.messages, p.gold, json.dumps(p.meta, sort_keys=True, default=str)) for p in problems]


@pytest.fixture(scope="module")
def lcb_saved(tmp_path_factory) -> dict[str, Path]:
    """The LCB fixture as a save_to_disk Dataset, a save_to_disk DatasetDict, a parquet file, a directory of
    split-named parquet files and a hub cache repo folder with two snapshots."""
    root = tmp_path_factory.mktemp("lcb")
    rows = lcb_rows()
    ds = datasets.Dataset.from_list(rows)
    ds.save_to_disk(str(root / "saved"))
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows[:1]), "test": ds}).save_to_disk(str(root / "dict"))
    ds.to_parquet(str(root / "lcb.parquet"))
    (root / "pq" / "data").mkdir(parents=True)
    datasets.Dataset.from_list(rows[:3]).to_parquet(str(root / "pq" / "data" / "test-00000-of-00002.parquet"))
    datasets.Dataset.from_list(rows[3:]).to_parquet(str(root / "pq" / "data" / "test-00001-of-00002.parquet"))
    datasets.Dataset.from_list(rows[:1]).to_parquet(str(root / "pq" / "data" / "train-00000-of-00001.parquet"))
    repo = root / "hub" / "datasets--livecodebench--code_generation_lite"
    for commit, keep in ((COMMIT, rows), (OTHER_COMMIT, rows[:2])):
        snap = repo / "snapshots" / commit
        snap.mkdir(parents=True)
        (snap / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in keep))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return {"saved": root / "saved", "dict": root / "dict", "parquet": root / "lcb.parquet", "pq": root / "pq",
            "repo": repo, "hub": root / "hub"}


@pytest.mark.parametrize("form", ["saved", "dict", "parquet", "pq"])
def test_lcb_local_forms_load_the_same_problems(lcb_saved, form):
    bench = get_bench("livecodebench")
    want = problems_key(bench.load(LoadOptions(data=LCB_FIXTURE)))
    opts = LoadOptions(data=lcb_saved[form])
    assert problems_key(bench.load(opts)) == want
    assert opts.extra["format"] == {"saved": "save_to_disk", "dict": "save_to_disk", "parquet": "parquet",
                                    "pq": "parquet"}[form]
    assert str(lcb_saved[form]) in opts.extra["source"]
    if form == "pq":  # split-named files: the test split only, both shards
        assert "test-00000-of-00002.parquet" in opts.extra["source"] and "train" not in opts.extra["source"]


def test_lcb_hub_snapshot_and_revision(lcb_saved):
    bench = get_bench("livecodebench")
    want = problems_key(bench.load(LoadOptions(data=LCB_FIXTURE)))
    opts = LoadOptions(data=lcb_saved["repo"], extra={"lcb_version": "v1"})
    assert problems_key(bench.load(opts)) == want  # refs/main
    assert (opts.extra["revision"], opts.extra["format"], opts.extra["lcb_version"]) == (COMMIT, "hub-snapshot", "v1")
    snap = lcb_saved["repo"] / "snapshots" / OTHER_COMMIT
    for data, extra in ((lcb_saved["repo"], {"revision": OTHER_COMMIT}), (snap, {})):
        opts = LoadOptions(data=data, extra={"lcb_version": "v1", **extra})
        assert [p.id for p in bench.load(opts)] == ["abc900_a", "abc900_b"]
        assert opts.extra["revision"] == OTHER_COMMIT
    with pytest.raises(UsageError, match="lacks test2.jsonl"):  # release_v5 needs test.jsonl .. test5.jsonl
        bench.load(LoadOptions(data=lcb_saved["repo"]))
    with pytest.raises(UsageError, match="no snapshot for revision 'v9'"):
        bench.load(LoadOptions(data=lcb_saved["repo"], extra={"lcb_version": "v1", "revision": "v9"}))
    with pytest.raises(UsageError, match="is snapshot"):
        bench.load(LoadOptions(data=snap, extra={"lcb_version": "v1", "revision": COMMIT}))
    with pytest.raises(UsageError, match="not a hub cache directory"):
        bench.load(LoadOptions(data=lcb_saved["pq"], extra={"revision": COMMIT}))
    with pytest.raises(UsageError, match="not a file"):
        bench.load(LoadOptions(data=LCB_FIXTURE, extra={"revision": COMMIT}))


def test_lcb_hub_flag_reads_the_hub_cache_offline(lcb_saved, monkeypatch):
    """`--hub` goes through huggingface_hub's snapshot_download; offline it answers from the cache."""
    monkeypatch.setenv("HF_HUB_CACHE", str(lcb_saved["hub"]))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(lcb_saved["hub"]))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    bench = get_bench("livecodebench")
    opts = LoadOptions(hub=True, extra={"lcb_version": "v1", "revision": OTHER_COMMIT})
    assert [p.id for p in bench.load(opts)] == ["abc900_a", "abc900_b"]
    assert opts.extra["revision"] == OTHER_COMMIT and opts.extra["format"] == "hub"
    assert opts.extra["source"].startswith(f"livecodebench/code_generation_lite@{OTHER_COMMIT} (test.jsonl")
    with pytest.raises(UsageError, match="could not fetch livecodebench/code_generation_lite@v9"):
        bench.load(LoadOptions(hub=True, extra={"lcb_version": "v1", "revision": "v9"}))


def test_lcb_without_data_or_hub_is_a_usage_error():
    with pytest.raises(UsageError, match="livecodebench is not bundled"):
        get_bench("livecodebench").load(LoadOptions())


@pytest.mark.parametrize("form", ["saved", "parquet", "pq", "repo"])
def test_cli_grade_livecodebench_from_a_directory(lcb_saved, form, tmp_path, cli):
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps(r) + "\n" for r in LCB_ROWS))
    extra = ["--lcb-version", "v1"] if form == "repo" else []
    proc = cli("grade", "--bench", "livecodebench", "--data", str(lcb_saved[form]), *extra, "--input", str(rows),
               "--output", str(tmp_path / "graded.jsonl"))
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(x)["correct"] for x in (tmp_path / "graded.jsonl").read_text().splitlines()] == \
        [True, False, True]
    assert "accuracy 0.6667 (2/3)" in proc.stdout
    assert "DeepSeek-R1's window" in proc.stderr


def test_cli_data_errors_are_one_line(tmp_path, main_cli):
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps(LCB_ROWS[0]) + "\n")
    (tmp_path / "empty").mkdir()
    for data, message in ((tmp_path / "missing", "--data not found"), (tmp_path / "empty", "no data found")):
        proc = main_cli("grade", "--bench", "livecodebench", "--data", str(data), "--input", str(rows))
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_codeforces_parquet_and_save_to_disk_keep_nested_tests(tmp_path):
    rows = read_jsonl(CF_FIXTURE)
    bench = get_bench("codeforces")
    want = problems_key(bench.load(LoadOptions(data=CF_FIXTURE)))
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "cf.parquet"))
    datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "cf"))
    for data in (tmp_path / "cf.parquet", tmp_path / "cf"):
        assert problems_key(bench.load(LoadOptions(data=data))) == want, data


def test_gpqa_parquet_save_to_disk_and_snapshot(tmp_path):
    bench = get_bench("gpqa_diamond")
    csv_path = tmp_path / "fake.csv"
    with csv_path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(FAKE_GPQA[0]))
        writer.writeheader()
        writer.writerows(FAKE_GPQA)
    want = problems_key(bench.load(LoadOptions(data=csv_path)))
    assert [p[0] for p in want] == ["g1", "g2"]
    datasets.Dataset.from_list(FAKE_GPQA).to_parquet(str(tmp_path / "gpqa.parquet"))
    datasets.DatasetDict({"train": datasets.Dataset.from_list(FAKE_GPQA)}).save_to_disk(str(tmp_path / "saved"))
    snap = tmp_path / "datasets--Idavidrein--gpqa" / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    (snap / "gpqa_diamond.csv").write_text(csv_path.read_text())
    (snap / "gpqa_main.csv").write_text("Question\nnot this one\n")  # other files in the repo are ignored
    for data in (tmp_path / "gpqa.parquet", tmp_path / "saved", snap):
        opts = LoadOptions(data=data)
        assert problems_key(bench.load(opts)) == want, data
    assert opts.extra["revision"] == COMMIT and "gpqa_diamond.csv" in opts.extra["source"]


def test_split_selection_and_dataset_dict_errors(tmp_path):
    (tmp_path / "d" / "train").mkdir(parents=True)
    (tmp_path / "d" / "validation").mkdir(parents=True)
    (tmp_path / "d" / "train" / "part.jsonl").write_text('{"a": 1}\n')
    (tmp_path / "d" / "validation" / "part.jsonl").write_text('{"a": 2}\n')
    assert read_local(tmp_path / "d", split="validation").rows == [{"a": 2}]
    with pytest.raises(UsageError, match="no 'test' files"):
        data_files(tmp_path / "d", "test")
    datasets.DatasetDict({"train": datasets.Dataset.from_list([{"a": 1}]),
                          "validation": datasets.Dataset.from_list([{"a": 2}])}).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(UsageError, match="without a 'test' split"):
        read_local(tmp_path / "dd")


def test_config_json_records_the_resolved_source_revision_and_window(lcb_saved):
    """What `r1eval run` writes to config.json (runner.build_config after the bench loaded)."""
    from r1eval.models import ModelSpec
    from r1eval.records import SamplingParams
    from r1eval.runner import RunSpec, build_config

    bench = get_bench("livecodebench")
    spec = RunSpec(bench=bench, model=ModelSpec("served-model", "served", "http://127.0.0.1:1/v1"),
                   params=SamplingParams(n=1), load=LoadOptions(data=lcb_saved["repo"], extra={"lcb_version": "v1"}))
    problems = bench.load(spec.load)
    config = build_config(spec, problems, problems)
    assert config["data"] == str(lcb_saved["repo"])
    assert config["data_options"] == {"lcb_version": "v1", "since": "2024-08-01", "until": "2025-01-31",
                                      "revision": COMMIT, "format": "hub-snapshot",
                                      "source": f"{lcb_saved['repo'] / 'snapshots' / COMMIT} (test.jsonl)"}
