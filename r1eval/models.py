"""Turning a ModelSpec into something trainable: a plain Hugging Face model directory.

Training code (GRPO in `rl/`, SFT in `distill/`) needs a model that `from_pretrained` loads and
`save_pretrained` writes. A GGUF file gives neither directly: transformers can load it (dequantising
to float) but the loaded model can't be saved. `materialize_model` copies its weights into a model
built with `from_config` and writes that as an ordinary directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from r1eval.backends.base import ModelSpec, load_tokenizer
from r1eval.errors import UsageError

MATERIALIZED_MARKER = "r1eval_materialized.json"
MATERIALIZE_VERSION = 2  # bump when the written directory changes, so caches are rebuilt


def load_trainable_model(spec: ModelSpec, dtype: str = "float32") -> Any:
    """An `AutoModelForCausalLM` for `spec` whose weights can be trained and saved (GGUF included)."""
    import torch
    from transformers import AutoModelForCausalLM

    torch_dtype = getattr(torch, dtype)
    try:
        if spec.source != "gguf":
            return AutoModelForCausalLM.from_pretrained(spec.path, dtype=torch_dtype)
        loaded = AutoModelForCausalLM.from_pretrained(spec.path, gguf_file=spec.gguf_file, dtype=torch_dtype)
    except OSError as exc:
        raise UsageError(f"could not load model {spec.name}: {str(exc).splitlines()[0]}") from None
    config = loaded.config
    # the weights are dequantised now: without this the saved config says "gguf quantized" and
    # Trainer refuses to fine-tune it
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # tied embeddings show up as a "missing" lm_head that from_config already ties to embed_tokens
    missing = [k for k in missing if not (k == "lm_head.weight" and model.config.tie_word_embeddings)]
    if missing or unexpected:
        raise UsageError(f"{spec.name}: GGUF weights don't match the model architecture "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.generation_config = loaded.generation_config
    return model


def materialize_model(spec: ModelSpec, out_dir: str | Path, dtype: str = "float32") -> Path:
    """Write `spec` as a plain HF model directory (config, safetensors, tokenizer) under `out_dir`.

    A `dir` spec is returned as it is (nothing copied). A `gguf` spec is dequantised once: a second call
    with the same GGUF (same sha256) reuses the directory. A hub id is downloaded and saved. Returns the
    directory to hand to `from_pretrained` / a trainer.
    """
    if spec.source == "dir":
        return Path(spec.path)
    out = Path(out_dir)
    marker = out / MATERIALIZED_MARKER
    identity = {"source": spec.source, "path": spec.path, "gguf_file": spec.gguf_file,
                "sha256": spec.sha256(), "dtype": dtype, "tokenizer": spec.tokenizer,
                "version": MATERIALIZE_VERSION}
    if marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == identity:
        return out
    model = load_trainable_model(spec, dtype)
    tokenizer = load_tokenizer(spec)
    tokenizer.padding_side = "left"
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    marker.write_text(json.dumps(identity, indent=2) + "\n", encoding="utf-8")
    return out
