"""The transformers backend's sampling: each filter and penalty of SeededSampler against hand-computed
logits, and a model whose generation_config.json is hostile still gets r1eval's processors only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from r1eval.backends.transformers import SeededSampler
from r1eval.records import SamplingParams

SCORES = torch.tensor([[2.0, 1.0, 0.5, -1.0]])


def logits(params: SamplingParams, input_ids: list[list[int]] | None = None, prompt_lengths=(2,), width=2,
           scores: torch.Tensor = SCORES) -> list[list[float]]:
    ids = torch.tensor(input_ids or [[0, 3, 1]])
    sampler = SeededSampler([1] * ids.shape[0], params, "cpu", prompt_lengths, width)
    return sampler.filtered_logits(ids, scores).tolist()


def neutral(**changes) -> SamplingParams:
    return SamplingParams(**{"temperature": 1.0, "top_p": 1.0, **changes})


def test_neutral_settings_change_nothing() -> None:
    assert logits(neutral()) == SCORES.tolist()
    assert logits(neutral(temperature=0.5)) == [[4.0, 2.0, 1.0, -2.0]]


def test_repetition_penalty_counts_prompt_and_reply_tokens_but_not_padding() -> None:
    # prompt [0, 3] (width 2), reply [1]; token 2 unseen. Positive logits / 2, negative * 2 (vLLM and HF)
    assert logits(neutral(repetition_penalty=2.0)) == [[1.0, 0.5, 0.5, -2.0]]
    # row 2 is left-padded with token 2 (the pad) before its one-token prompt [3]: the pad is not "seen"
    got = logits(neutral(repetition_penalty=2.0), [[0, 3, 1], [2, 3, 2]], prompt_lengths=(2, 1), width=2,
                 scores=SCORES.repeat(2, 1))
    assert got[0] == [1.0, 0.5, 0.5, -2.0]
    assert got[1] == [2.0, 1.0, 0.25, -2.0]  # token 3 from the prompt, token 2 from the reply


def test_presence_and_frequency_penalties_count_reply_tokens_only() -> None:
    # reply [1, 1, 0] after prompt [0, 3]: counts token0 = 1, token1 = 2 (prompt's 0 and 3 don't count)
    got = logits(neutral(presence_penalty=0.5, frequency_penalty=0.25), [[0, 3, 1, 1, 0]])
    assert got == [[2.0 - 0.25 - 0.5, 1.0 - 0.5 - 0.5, 0.5, -1.0]]


def test_top_k_min_p_and_top_p() -> None:
    inf = float("-inf")
    probs = SCORES.softmax(-1).tolist()[0]  # [.6095, .2242, .1360, .0303]
    assert [round(x, 4) for x in probs] == [0.6095, 0.2242, 0.136, 0.0303]
    assert logits(neutral(top_k=2)) == [[2.0, 1.0, inf, inf]]
    # min-p .3: threshold .3 x .6095 = .1828 keeps tokens 0 and 1 (.136 < .1828)
    assert logits(neutral(min_p=0.3)) == [[2.0, 1.0, inf, inf]]
    # top-p .8: ascending cumulative .0303, .1663, .3905, 1; tokens whose cumulative <= .2 go: 3 and 2
    assert logits(neutral(top_p=0.8)) == [[2.0, 1.0, inf, inf]]
    assert logits(neutral(top_p=0.5)) == [[2.0, inf, inf, inf]]  # <= .5 drops 3, 2 and 1


def test_order_is_vllms_penalties_then_temperature_then_filters() -> None:
    # seen tokens {0, 3}: penalty 2 first ([2, 1.9, .5, -1] -> [1, 1.9, .5, -2]), then T = .5 doubles, then
    # top-k 1 keeps token 1; filtering before the penalty would have kept token 0
    scores = torch.tensor([[2.0, 1.9, 0.5, -1.0]])
    got = logits(SamplingParams(temperature=0.5, top_p=1.0, repetition_penalty=2.0, top_k=1), [[0, 3, 3]],
                 scores=scores)
    assert got == [[float("-inf"), pytest.approx(3.8), float("-inf"), float("-inf")]]


def test_seeded_draws_are_row_independent() -> None:
    params = neutral()
    ids = torch.tensor([[0, 3, 1], [0, 3, 1]])
    a = SeededSampler([5, 6], params, "cpu", (2, 2), 2)(ids, SCORES.repeat(2, 1)).argmax(-1).tolist()
    b = SeededSampler([6], params, "cpu", (2,), 2)(ids[:1], SCORES).argmax(-1).tolist()
    assert a[1] == b[0]


@pytest.mark.parametrize("bad", [{"top_k": -1}, {"min_p": 1.5}, {"repetition_penalty": 0.0},
                                 {"presence_penalty": 3.0}, {"chat_template_kwargs": {"tokenize": True}}])
def test_out_of_range_fields_are_refused(bad: dict) -> None:
    from r1eval.errors import UsageError

    with pytest.raises(UsageError):
        SamplingParams(**bad).validate()


def test_hostile_generation_config_adds_no_processor(tmp_path: Path) -> None:
    """A model dir whose generation_config.json sets penalties, n-gram blocking, top-k, a minimum length and
    suppressed tokens: generate() still builds only r1eval's sampler (nothing merged from the file)."""
    from r1eval.backends.transformers import TransformersBackend, neutral_generation_config
    from r1eval.models import embedded_model, hf_model_dir, resolve_model

    source = Path(hf_model_dir(embedded_model(), "float32"))
    hostile = tmp_path / "hostile"
    hostile.mkdir()
    for f in source.iterdir():
        if f.name != "generation_config.json":
            (hostile / f.name).symlink_to(f)
    config = json.loads((source / "generation_config.json").read_text())
    config.update({"repetition_penalty": 1.3, "top_k": 5, "no_repeat_ngram_size": 2, "min_new_tokens": 20,
                   "suppress_tokens": [13], "do_sample": True, "temperature": 0.2, "stop_strings": ["."]})
    (hostile / "generation_config.json").write_text(json.dumps(config))
    backend = TransformersBackend(resolve_model(str(hostile)))
    try:
        params = SamplingParams(max_tokens=8)
        config = neutral_generation_config(params, backend.stop_token_ids, backend.tokenizer.pad_token_id,
                                           backend.tokenizer.bos_token_id)
        prepared, _ = backend.model._prepare_generation_config(config)
        prepared._eos_token_tensor = None
        sampler = SeededSampler([1], params, "cpu", (3,), 3)
        processors = backend.model._get_logits_processor(prepared, input_ids_seq_length=3,
                                                         logits_processor=[sampler], device="cpu")
        assert list(processors) == [sampler]
        assert prepared.stop_strings is None and not prepared.do_sample
        assert backend.effective_sampling(params)["repetition_penalty"] == 1.0
    finally:
        backend.close()
