"""The progress bar of `r1eval run`: finished samples and generated tokens, with rates and an ETA.

Samples finish late (a reasoning reply can take minutes), so the bar also counts tokens as the backend
reports them (the transformers backend at every decoding step, the others per finished sample) and
shows tokens/s from the first seconds; until the first sample finishes, the ETA is an upper bound from
the token rate and --max-tokens ("ETA <= ...")."""

from __future__ import annotations

import time
from typing import Any

REFRESH_SECONDS = 0.5


def silence_library_progress() -> None:
    """`--no-progress`: no bar from transformers' or the hub's loaders either."""
    import os
    import sys

    # tqdm reads TQDM_DISABLE for every bar it creates (transformers' and datasets' bars are tqdm's);
    # the hub reads its own variable when first imported
    os.environ["TQDM_DISABLE"] = "1"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    if "huggingface_hub" in sys.modules:  # already imported: tell it directly
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


class RunProgress:
    """A tqdm bar over samples whose postfix carries the token count, tokens/s and a token-based ETA."""

    def __init__(self, total: int, name: str, max_tokens: int, enabled: bool = True) -> None:
        self.total, self.max_tokens = total, max_tokens
        self.samples = self.tokens = 0
        self.start = self._shown = time.perf_counter()
        self.bar: Any = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="sample", desc=name, dynamic_ncols=True)

    def add_tokens(self, count: int) -> None:
        """Tokens generated (called by a backend as it decodes, possibly many times a second)."""
        self.tokens += count
        if self.bar is not None and time.perf_counter() - self._shown >= REFRESH_SECONDS:
            self._refresh()

    def add_samples(self, count: int, tokens: int | None = None) -> None:
        """Finished samples (and their tokens, for a backend that does not report them as it goes)."""
        self.samples += count
        if tokens:
            self.tokens += tokens
        if self.bar is not None:
            self.bar.update(count)
            self._refresh()

    def postfix(self) -> str:
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        rate = self.tokens / elapsed
        text = f"{self.tokens} tok, {rate:.1f} tok/s"
        if self.samples == 0 and rate > 0:  # no sample rate yet: an upper bound from the token rate
            text += f", ETA <= {_duration(max(self.total * self.max_tokens - self.tokens, 0) / rate)}"
        return text

    def _refresh(self) -> None:
        self._shown = time.perf_counter()
        self.bar.set_postfix_str(self.postfix(), refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"
