"""Teacher traces through the harness: a `distill generate` output is an ordinary run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from r1eval.errors import ConfigError
from r1eval.records import SamplingParams


def generate_traces(teacher: str | None, data: str, *, n: int, output: Path, backend: str = "auto",
                    temperature: float = SamplingParams.temperature, top_p: float = SamplingParams.top_p, max_tokens: int = 32768, seed: int = 0,
                    limit: int | None = None, force_think: bool = False, system_prompt: str | None = None,
                    chat_template_kwargs: dict[str, Any] | None = None, batch_size: int | None = None,
                    progress: bool = True) -> tuple[dict[str, Any], Path]:
    """Sample `n` teacher traces per problem of `data` (a bench name or a problem/answer JSONL) with
    `r1eval.runner.run_eval`; graded, resumable, with full provenance. Returns (summary, run dir)."""
    from r1eval.benches import REGISTRY, LoadOptions
    from r1eval.benches.math import MathBench
    from r1eval.models import resolve_model
    from r1eval.records import SamplingParams
    from r1eval.runner import RunSpec, run_eval

    if data in REGISTRY:
        bench, load = REGISTRY[data], LoadOptions()
    elif data.endswith(".jsonl"):
        path = Path(data)
        if not path.is_file():
            raise ConfigError("data", f"file not found: {data}")
        # recorded as config.json "data", so `distill filter` can reload the prompts from the run directory
        bench, load = MathBench(path.stem, f"user math file {data}", path=path), LoadOptions(data=path.resolve())
    else:
        raise ConfigError("data", f"{data!r} is neither a bench ({', '.join(sorted(REGISTRY))}) nor a .jsonl file")
    params = SamplingParams(n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed,
                            force_think=force_think, system_prompt=system_prompt,
                            chat_template_kwargs=chat_template_kwargs)
    spec = RunSpec(bench=bench, model=resolve_model(teacher), params=params, backend=backend,
                   backend_options={"batch_size": batch_size} if batch_size else {}, load=load, limit=limit,
                   output=output, progress=progress)
    return run_eval(spec)
