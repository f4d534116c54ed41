"""Run one command as a real subprocess and record wall time and peak RSS.

Timing is `time.perf_counter` around spawn + reap (`os.wait4`). Peak RSS comes from GNU
`/usr/bin/time -f %M`, not from our own wait4: Linux carries the exec-ing process's old
high-water mark into `ru_maxrss` across exec, so a child spawned straight from this (large)
Python process would report at least the harness's own peak. `time` is small, and it reports
the rusage of the command it forked, which on Linux covers every descendant that command
reaped (a `bash -c 'a | b'` pipeline reports the largest of them). Without `/usr/bin/time`
wait4's figure is used and flagged. No page-cache dropping is possible here, so every
contestant runs warm, in the same order.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None

#: Steps whose first run takes at least this long are run once; quicker ones get repeats.
LONG_STEP_S = 10.0

OK, ERROR, NA, SKIPPED, TIMEOUT = "ok", "error", "n/a", "skipped", "timeout"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now (for a server the benchmark starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_http_server(cmd: Sequence[str], endpoint: str, out: Path, bucket: str,
                      what: str) -> subprocess.Popen[bytes]:
    """Start ``cmd`` (an S3 server) in its own session, wait until ``endpoint`` answers
    (at most a minute), then make ``bucket``; output goes to ``out``."""
    with out.open("wb") as sink:
        proc = subprocess.Popen(list(cmd), stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(endpoint, timeout=2).read()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise RuntimeError(f"{what} did not start; see {out}") from None
            time.sleep(0.2)
    try:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/{bucket}", method="PUT"),
                               timeout=30).read()
    except BaseException:
        stop_server(proc)
        raise
    return proc


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a server :func:`start_http_server` started (kill it after 10 s)."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class SetupError(RuntimeError):
    """An untimed preparation command failed; the step it prepared cannot be measured."""


@dataclass
class RunResult:
    """One timed process: exit code, seconds, peak RSS and the tails of its output."""

    returncode: int
    seconds: float
    maxrss_kib: int
    timed_out: bool
    output_tail: str


@dataclass
class Measurement:
    """All runs of one step for one contestant; `seconds` is the median of the runs."""

    step: str
    contestant: str
    status: str = OK
    times: list[float] = field(default_factory=list)
    maxrss_kib: int = 0
    detail: str = ""

    @property
    def seconds(self) -> float | None:
        """Median wall time, or None when the step did not complete."""
        if self.status != OK or not self.times:
            return None
        return statistics.median(self.times)

    @property
    def peak_mib(self) -> float | None:
        """Peak resident set size over all runs, in MiB."""
        return self.maxrss_kib / 1024 if self.status == OK and self.maxrss_kib else None

    def to_json(self) -> dict[str, object]:
        """Plain dict for the machine-readable results file."""
        return {
            "step": self.step,
            "contestant": self.contestant,
            "status": self.status,
            "times": self.times,
            "median_s": self.seconds,
            "peak_mib": self.peak_mib,
            "detail": self.detail,
        }


def _tail(path: Path, limit: int = 800) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - limit))
            return fh.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def run_timed(
    cmd: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
) -> RunResult:
    """Spawn `cmd` (under GNU time), reap it with wait4, and time it; output goes to files.

    Pipes would need a reader thread that competes for the two cores; files do not.
    """
    with tempfile.TemporaryDirectory(prefix="bench-out-") as tmp:
        out_path, rss_path = Path(tmp) / "out", Path(tmp) / "rss"
        argv = [TIME, "-f", "%M", "-o", str(rss_path), *cmd] if TIME else list(cmd)
        with out_path.open("wb") as out:
            timed_out = threading.Event()
            start = time.perf_counter()
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

            def kill() -> None:
                timed_out.set()
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)

            timer = threading.Timer(timeout, kill)
            timer.start()
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            finally:
                timer.cancel()
            seconds = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
        maxrss = usage.ru_maxrss
        if TIME:
            lines = rss_path.read_text().split() if rss_path.exists() else []
            maxrss = int(lines[-1]) if lines and lines[-1].isdigit() else 0
        return RunResult(
            returncode=proc.returncode,
            seconds=seconds,
            maxrss_kib=maxrss,
            timed_out=timed_out.is_set(),
            output_tail=_tail(out_path),
        )


def run_checked(cmd: Sequence[str], cwd: Path, env: Mapping[str, str]) -> str:
    """Run an untimed preparation command; raise SetupError with its output tail on failure."""
    proc = subprocess.run(
        list(cmd), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, capture_output=True
    )
    if proc.returncode != 0:
        text = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip()
        raise SetupError(f"`{' '.join(cmd)}` exited {proc.returncode}: {text[-600:]}")
    return proc.stdout.decode("utf-8", "replace")


def measure(
    step: str,
    contestant: str,
    cmd: Sequence[str] | Callable[[int], Sequence[str]],
    cwd: Path,
    env: Mapping[str, str],
    *,
    setup: Callable[[int], None] | None = None,
    repeat: int = 3,
    timeout: float = 3600.0,
) -> Measurement:
    """Run `setup(rep)` untimed then `cmd` timed, up to `repeat` times (once if slow).

    `cmd` may be a function of the repeat number (for steps that need a new tag each time).

    A failing setup or command ends the step as 'error' with the output tail, so one broken
    contestant never stops the rest of the benchmark.
    """
    m = Measurement(step=step, contestant=contestant)
    for rep in range(repeat):
        try:
            if setup is not None:
                setup(rep)
        except (SetupError, OSError) as exc:
            return _failed(m, ERROR, f"setup: {exc}")
        argv = cmd(rep) if callable(cmd) else cmd
        result = run_timed(argv, cwd, env, timeout)
        if result.timed_out:
            return _failed(m, TIMEOUT, f"killed after {timeout:.0f} s")
        if result.returncode != 0:
            return _failed(m, ERROR, f"exit {result.returncode}: {result.output_tail}")
        m.times.append(result.seconds)
        m.maxrss_kib = max(m.maxrss_kib, result.maxrss_kib)
        if rep == 0 and result.seconds >= LONG_STEP_S:
            break  # the first run decides: slow steps are not worth repeating
    return m


def _failed(m: Measurement, status: str, detail: str) -> Measurement:
    m.status, m.detail, m.times = status, detail.strip(), []
    return m


def not_run(step: str, contestant: str, status: str, detail: str) -> Measurement:
    """A placeholder for a step that was skipped or is not applicable."""
    return Measurement(step=step, contestant=contestant, status=status, detail=detail)


def time_in_process(fn: Callable[[], object], repeat: int = 3) -> list[float]:
    """Wall times of calling `fn` in this process (for the no-start-up floors)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times
