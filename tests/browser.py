"""Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`): open a page,
evaluate JavaScript (awaiting promises), read the JS heap. No extra package: JSON messages ending in NUL on
file descriptors 3 (commands) and 4 (replies) of the browser process."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any


def chromium_path() -> str | None:
    return next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


class Browser:
    """One headless Chromium with one page; `with Browser(profile_dir) as b: b.open(url); b.eval(js)`."""

    def __init__(self, profile: Path, width: int = 1400, height: int = 1000) -> None:
        cmd_read, self._cmd = os.pipe()
        self._reply, reply_write = os.pipe()
        # fds >= 10 in the parent so the shell's `3<&N 4>&M` cannot clobber one with the other
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (cmd_read, reply_write)]
        os.close(cmd_read)
        os.close(reply_write)
        args = [chromium_path(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--no-first-run", "--disable-extensions", "--allow-file-access-from-files", "--remote-debugging-pipe",
                f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"]
        self.proc = subprocess.Popen(["/bin/bash", "-c", f'exec "$0" "$@" 3<&{high[0]} 4>&{high[1]}', *args],
                                     pass_fds=high, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fd in high:
            os.close(fd)
        self._buffer = b""
        self._next = 0
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Runtime.enable", session=True)
        self.send("Page.enable", session=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        for fd in (self._cmd, self._reply):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._reply, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict[str, Any] | None = None, *, session: bool = False,
             timeout: float = 120) -> dict[str, Any]:
        """One DevTools command; returns its result (an error reply raises)."""
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._cmd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def eval(self, expression: str, timeout: float = 120) -> Any:
        """The value of a JavaScript expression in the page (a promise is awaited)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True}, session=True, timeout=timeout)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails'].get('exception', {}).get('description')}")
        return result["result"].get("value")

    def open(self, url: str, ready: str = "typeof R1Explorer !== \"undefined\" && R1Explorer.ready", timeout: float = 120) -> float:
        """Navigate and await `ready`; returns the seconds from the navigation to `ready` resolving."""
        t0 = time.perf_counter()
        self.send("Page.navigate", {"url": url}, session=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.eval(f"(async () => {{ const r = {ready}; if (!r) return false; await r; return true; }})()",
                             timeout=timeout):
                    return time.perf_counter() - t0
            except RuntimeError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} not ready after {timeout} s")
            time.sleep(0.05)

    def heap_mb(self) -> float:
        """The page's used JavaScript heap, MB (after a garbage collection)."""
        self.send("HeapProfiler.collectGarbage", session=True)
        return self.send("Runtime.getHeapUsage", session=True)["usedSize"] / 2**20

    def screenshot(self, path: Path) -> None:
        import base64

        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"}, session=True)["data"]))
