"""Hostile programs in C++, Java, C#, JavaScript, PHP and Bash, and hostile programs fed to the compilers:
each must be contained (the verdict it must get, nothing of the host touched, nothing left running, the
grader alive). Around the runs: a secret in the harness's environment, a sentinel file on the host, a
loopback listener, a scan for processes left under the sandbox's uids.

Needs the root sandbox level (CI runs as root) and the toolchains (.ci/run installs them).
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from r1eval.grading import sandbox as sb
from r1eval.grading.sandbox import native
from r1eval.grading.sandbox.builds import compile_program, run_native
from r1eval.grading.sandbox.languages import LANGUAGES, missing_tools

pytestmark = [pytest.mark.sandbox,
              pytest.mark.skipif(os.geteuid() != 0, reason="the hostile suite checks the root sandbox level"),
              pytest.mark.skipif(any(missing_tools(lang) for lang in LANGUAGES.values()),
                                 reason="a toolchain is missing (.ci/run installs them)")]
CONTAINED = ("timeout", "runtime_error", "memory_limit")


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """A secret in the harness's environment (the fork server restarts to inherit it), a world-writable
    sentinel file on the host, a loopback listener."""
    secret = f"SECRET-{secrets.token_hex(8)}"
    os.environ["R1EVAL_TEST_SECRET"] = secret
    sb.shutdown()
    directory = tmp_path_factory.mktemp("sentinel")
    directory.chmod(0o777)
    sentinel = directory / "keep.txt"
    sentinel.write_text(f"SENTINEL-{secrets.token_hex(6)}")
    sentinel.chmod(0o666)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    yield {"secret": secret, "sentinel": sentinel, "text": sentinel.read_text(), "port": listener.getsockname()[1]}
    with pytest.raises(TimeoutError):
        listener.accept()  # nothing ever connected
    listener.close()
    assert sentinel.read_text().startswith("SENTINEL-") and [p.name for p in directory.iterdir()] == ["keep.txt"]
    os.environ.pop("R1EVAL_TEST_SECRET", None)
    sb.shutdown()


def _left_running() -> list[psutil.Process]:
    """Live processes under this grader's program uids (judges use the odd uids and live on)."""
    lo, hi = sb.isolation_report()["uids"]
    found = []
    for proc in psutil.process_iter(["uids", "status"]):
        ids = proc.info["uids"]
        if ids and proc.info["status"] != psutil.STATUS_ZOMBIE and lo <= ids.real < hi and (ids.real - lo) % 2 == 0:
            found.append(proc)
    return found


def _assert_nothing_left() -> None:
    deadline = time.monotonic() + 5
    while _left_running() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _left_running()


def _grader_alive() -> None:
    res = run_native("sh", "echo alive", timeout_s=5)
    assert (res.verdict, res.stdout) == ("passed", "alive\n")


BOMBS = {
    "cpp-fork": ("cpp", "#include <unistd.h>\nint main(){ for(;;) fork(); }"),
    "cpp-thread": ("cpp", "#include <thread>\n#include <chrono>\nint main(){ for(;;) std::thread([]{ "
                          "std::this_thread::sleep_for(std::chrono::hours(1)); }).detach(); }"),
    "java-fork": ("java", "class Main { public static void main(String[] a) throws Exception { for(;;) "
                          "new ProcessBuilder(\"/bin/sh\", \"-c\", \"sleep 100\").start(); } }"),
    "java-thread": ("java", "class Main { public static void main(String[] a) { for(;;) new Thread(() -> { try { "
                            "Thread.sleep(1000000); } catch (Exception e) {} }).start(); } }"),
    "sh-fork": ("sh", ":(){ :|:& };:"),  # the script itself ends at once (exit 0): what it started must not outlive it
    "sh-fork-wait": ("sh", "bomb() { bomb | bomb & }; bomb; sleep 100"),
    "sh-background": ("sh", "for i in $(seq 1000); do sleep 100 & done; wait"),
    "js-workers": ("js", "const { Worker } = require('worker_threads'); for (;;) new Worker('setInterval(() => {}, 1000)', "
                         "{ eval: true });"),
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_process_and_thread_bombs_are_contained(host, name) -> None:
    language, source = BOMBS[name]
    started = time.monotonic()
    res = run_native(language, source, timeout_s=4, memory_mb=512)
    assert res.verdict in (*CONTAINED, "passed") if name == "sh-fork" else CONTAINED, (name, res.verdict, res.detail)
    assert time.monotonic() - started < 60
    _assert_nothing_left()
    _grader_alive()


ALLOCATE_8GB = {
    "cpp": "#include <vector>\nint main(){ std::vector<char> v(8ull << 30, 1); return v[12345]; }",
    "cpp-malloc": "#include <cstdlib>\n#include <cstring>\nint main(){ char *p = (char*)malloc(8ull << 30);"
                  " if(!p) return 3; memset(p, 1, 8ull << 30); return p[77]; }",
    "java": "class Main { public static void main(String[] a) { long[] x = new long[1 << 30]; System.out.println(x[5]); } }",
    "js": "const chunks = []; for (;;) chunks.push(new Array(1 << 20).fill(1.5));",
    "js-buffer": "const b = Buffer.alloc(8 * 2 ** 30, 1); console.log(b[5]);",
    "cs": "class P { static void Main() { var x = new System.Collections.Generic.List<long[]>(); "
          "for (;;) x.Add(new long[1 << 24]); } }",
    "php": "<?php $s = str_repeat('x', 8 * 1024 * 1024 * 1024); echo strlen($s);",
}


@pytest.mark.parametrize("name", sorted(ALLOCATE_8GB))
def test_8gb_allocations_are_contained(host, name) -> None:
    language = name.split("-")[0]
    res = run_native(language, ALLOCATE_8GB[name], timeout_s=10, memory_mb=256)
    assert res.verdict in ("memory_limit", "runtime_error"), (name, res.verdict, res.detail, res.stderr[-300:])
    if name in ("cpp", "java", "js", "php", "cs"):
        assert res.verdict == "memory_limit", (name, res.detail, res.stderr[-300:])
    _grader_alive()


def test_files_outside_the_run_directory(host) -> None:
    sentinel = str(host["sentinel"])
    paths = ["/etc/passwd", "/usr/bin/r1eval-planted", "/bin/sh", sentinel, "/tmp/../etc/hosts", "/proc/1/root/x",
             "/lib/x86_64-linux-gnu/libc.so.6", "/dev/shm/../../etc/x"]
    cpp = ("#include <cstdio>\nint main(){ const char* paths[] = {" + ", ".join(f'"{p}"' for p in paths) + "};\n"
           " for (auto p : paths) { FILE* f = fopen(p, \"a\"); if (f) { printf(\"WROTE %s\\n\", p); fclose(f); } }\n"
           f" FILE* r = fopen(\"{sentinel}\", \"r\"); if (r) printf(\"READ sentinel\\n\");\n"
           " FILE* s = fopen(\"/etc/shadow\", \"r\"); if (s) printf(\"READ shadow\\n\");\n"
           " FILE* own = fopen(\"mine.txt\", \"w\"); if (own) { fputs(\"ok\", own); fclose(own); puts(\"OWN ok\"); } }")
    res = run_native("cpp", cpp, timeout_s=5)
    assert res.verdict == "passed", res.stderr
    assert res.stdout == "OWN ok\n"  # its own working directory only
    sh = (f"echo x >> /etc/passwd; echo x >> {sentinel}; cat {sentinel}; cat /etc/shadow; ls /root; cat /proc/1/environ;"
          " env; echo x > /tmp/work/mine && echo OWN ok")
    res = run_native("sh", sh, timeout_s=5)
    assert host["text"] not in res.stdout and host["secret"] not in res.stdout + res.stderr
    assert "OWN ok" in res.stdout
    java = ("import java.io.*;\nclass Main { public static void main(String[] a) { for (String p : new String[]{"
            f"\"/etc/passwd\", \"{sentinel}\", \"/usr/lib/planted\"}}) {{ try (FileWriter w = new FileWriter(p, true)) "
            "{ System.out.println(\"WROTE \" + p); } catch (IOException e) { System.out.println(\"denied\"); } } } }")
    res = run_native("java", java, timeout_s=10)
    assert res.stdout.split() == ["denied"] * 3, res.stderr[-300:]
    assert host["sentinel"].read_text() == host["text"]


def test_nothing_persists_between_runs(host) -> None:
    first = run_native("sh", "echo planted > /tmp/work/left; echo planted > /dev/shm/left; echo ok", timeout_s=5)
    assert first.stdout == "ok\n"
    second = run_native("sh", "cat /tmp/work/left /dev/shm/left 2>/dev/null; echo done", timeout_s=5)
    assert second.stdout == "done\n"


def test_loopback_sockets(host) -> None:
    port = host["port"]
    cpp = ("#include <cstdio>\n#include <sys/socket.h>\n#include <netinet/in.h>\n#include <arpa/inet.h>\n"
           "int main(){ int s = socket(AF_INET, SOCK_STREAM, 0); sockaddr_in a{}; a.sin_family = AF_INET;"
           f" a.sin_port = htons({port}); inet_pton(AF_INET, \"127.0.0.1\", &a.sin_addr);"
           " printf(connect(s, (sockaddr*)&a, sizeof a) == 0 ? \"CONNECTED\\n\" : \"refused\\n\"); }")
    assert run_native("cpp", cpp, timeout_s=5).stdout == "refused\n"
    js = (f"const c = require('net').connect({port}, '127.0.0.1', () => {{ console.log('CONNECTED'); process.exit(0); }});"
          " c.on('error', () => console.log('refused'));")
    assert run_native("js", js, timeout_s=5).stdout == "refused\n"
    sh = f"exec 3<>/dev/tcp/127.0.0.1/{port} && echo CONNECTED || echo refused"
    assert run_native("sh", sh, timeout_s=5).stdout.strip() == "refused"
    php = f"<?php $s = @fsockopen('127.0.0.1', {port}, $e, $m, 1); echo $s ? 'CONNECTED' : 'refused';"
    assert run_native("php", php, timeout_s=5).stdout == "refused"


@pytest.mark.parametrize("language,source", [
    ("cpp", "#include <unistd.h>\nint main(){ sleep(100); }"),
    ("java", "class Main { public static void main(String[] a) throws Exception { Thread.sleep(100000); } }"),
    ("sh", "sleep 100"),
    ("js", "setTimeout(() => {}, 100000);"),
])
def test_sleeping_past_the_limit(host, language, source) -> None:
    res = run_native(language, source, timeout_s=2)
    assert res.verdict == "timeout" and res.wall_s < 4, (res.verdict, res.wall_s)
    _assert_nothing_left()


@pytest.mark.parametrize("language,source", [
    ("cpp", "#include <cstdio>\nint main(){ static char b[1 << 16]; for (auto& c : b) c = 'x'; for(;;) fwrite(b, 1, sizeof b, stdout); }"),
    ("sh", "yes xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
    ("js", "const s = 'x'.repeat(1 << 20); for (let i = 0; i < 100; i++) process.stdout.write(s);"),
])
def test_100mb_of_output(host, language, source) -> None:
    res = run_native(language, source, timeout_s=10, stdout_limit=1 << 20)
    assert res.verdict == "runtime_error" and "output limit exceeded" in res.detail, (res.verdict, res.detail)
    assert len(res.stdout) <= 1 << 20


def test_kill_everything_it_can_see(host) -> None:
    res = run_native("cpp", "#include <csignal>\nint main(){ kill(-1, SIGKILL); return 0; }", timeout_s=5)
    assert res.verdict in ("passed", "runtime_error")  # it may kill itself; nobody else
    res = run_native("sh", "kill -9 -1; kill -9 1; echo still", timeout_s=5)
    _grader_alive()


PATHOLOGICAL_COMPILES = {
    "include-shadow": ("cpp", '#include "/etc/shadow"\nint main(){}', ("No such file", "shadow")),
    "include-urandom": ("cpp", '#include "/dev/urandom"\nint main(){}', ()),
    "include-stdin": ("cpp", '#include "/dev/stdin"\nint main(){}', None),  # /dev/null while compiling: compiles
    "include-environ": ("cpp", '#include "/proc/self/environ"\nint main(){}', None),  # the compiler's own, scrubbed
    "template-bomb": ("cpp", "template<int N> struct B { static const long v = B<N - 1>::v + B<N - 2>::v; };\n"
                             "template<> struct B<0> { static const long v = 1; };\n"
                             "template<> struct B<1> { static const long v = 1; };\n"
                             "int main(){ return B<100000>::v; }", ()),
    "huge-object": ("cpp", "char big[1ull << 31] = {1};\nint main(){ return big[5]; }", ()),
    "java-huge-constant": ("java", "class Main { static String s = \"" + "x" * 70000 + "\";"
                                   " public static void main(String[] a) {} }", ("too long",)),
    "ts-type-bomb": ("ts", "type T<N extends any[]> = N['length'] extends 10000 ? N : T<[...N, 0]>;\n"
                           "const x: T<[]> = [] as any;\nconsole.log(x);", ()),
    "cs-include": ("cs", "#line 1 \"/etc/shadow\"\nclass P { static void Main() { int x = \"s\"; } }", ()),
}


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL_COMPILES))
def test_pathological_programs_fed_to_compilers(host, name) -> None:
    language, source, expected = PATHOLOGICAL_COMPILES[name]
    started = time.monotonic()
    build = compile_program(language, source + f"\n// {secrets.token_hex(4)}", compile_timeout_s=8)
    assert time.monotonic() - started < 40
    if expected is not None:
        assert not build.ok and build.error.verdict == "compile_error", (name, build.error)
        assert all(text in build.error.detail for text in expected), build.error.detail
        assert host["secret"] not in build.error.detail + build.error.stderr
    else:
        assert build.ok or build.error.verdict == "compile_error"
        contents = b"".join(data for data, _ in native.unpack_build(build.files).values()) if build.ok else b""
        assert host["secret"].encode() not in contents + repr(build.error).encode()
    _assert_nothing_left()
    _grader_alive()


def test_hostile_programs_in_parallel_leave_the_grader_alive(host) -> None:
    jobs = [BOMBS["cpp-fork"], BOMBS["sh-fork-wait"], ("java", ALLOCATE_8GB["java"]), ("js", ALLOCATE_8GB["js"]),
            ("cpp", "int main(){ for(;;); }"), ("sh", "echo fine")]
    with ThreadPoolExecutor(len(jobs)) as pool:
        results = list(pool.map(lambda job: run_native(job[0], job[1], timeout_s=4, memory_mb=256), jobs))
    assert [r.verdict in CONTAINED for r in results[:-1]] == [True] * (len(jobs) - 1), [r.verdict for r in results]
    assert results[-1].verdict == "passed"
    _assert_nothing_left()
    _grader_alive()
    assert Path("/proc").is_dir() and psutil.Process(sb.isolation_report()["server_pid"]).is_running()
