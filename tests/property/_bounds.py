"""What every generated case runs under: a watchdog for hangs, a memory ceiling, and a case counter.

- **Time**: a case that runs longer than ``CASE_SECONDS`` is a hang (a FIFO opened for reading
  blocks forever, a runaway loop) and fails with :class:`Hung`. The limit is far above what any
  case needs, so it never decides a result by speed; it only turns a hang into a failure.
- **Memory**: the address space may grow by at most ``CASE_BYTES`` (``RLIMIT_AS``), so a runaway
  allocation fails as a MemoryError instead of taking the machine down, and the peak resident
  memory may not grow by more than ``RSS_BYTES`` during the case.
- **Count**: :data:`CASES` counts the cases run per test, printed at the end of the session
  (the figure issue 13 asks for in its closing note).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
from collections import Counter
from typing import Iterator, Sequence

try:
    import resource
except ImportError:  # Windows: no watchdog or ceiling there, the cases still run and are checked
    resource = None

CASE_SECONDS = 120
CASE_BYTES = 4 << 30
RSS_BYTES = 1536 << 20

#: generated cases run in this session, by test name
CASES: Counter = Counter()


class Hung(AssertionError):
    """A generated case ran past CASE_SECONDS."""


def _address_space() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def _max_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


@contextlib.contextmanager
def bounded(name: str) -> Iterator[None]:
    """Run one generated case of test ``name`` under the watchdog and the memory ceiling."""
    CASES[name] += 1
    guarded = resource is not None and hasattr(signal, "SIGALRM") and os.path.exists("/proc/self/statm")

    def hung(signum, frame):
        raise Hung(f"a generated case ran past {CASE_SECONDS} s (a hang)")

    old_handler = signal.signal(signal.SIGALRM, hung) if guarded else None
    old_limit = resource.getrlimit(resource.RLIMIT_AS) if guarded else None
    rss_before = _max_rss() if guarded else 0
    if guarded:
        signal.alarm(CASE_SECONDS)
        ceiling = _address_space() + CASE_BYTES
        if old_limit[1] == resource.RLIM_INFINITY or ceiling < old_limit[1]:
            resource.setrlimit(resource.RLIMIT_AS, (ceiling, old_limit[1]))
    try:
        yield
    finally:
        if guarded:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old_handler)
            resource.setrlimit(resource.RLIMIT_AS, old_limit)
    if guarded:
        grown = _max_rss() - rss_before
        assert grown <= RSS_BYTES, f"peak memory grew by {grown / 2**20:.0f} MiB in one case"


def run_cli(argv: Sequence[str]) -> tuple[int, str, str]:
    """``cli.main(argv)`` in this process, with stdout/stderr as strict UTF-8 streams (a UTF-8 terminal)."""
    from diffusion_studio.cli import main

    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.buffer.getvalue().decode("utf-8"), err.buffer.getvalue().decode("utf-8")


def assert_clean_exit(code: int, err: str, argv: Sequence[str]) -> None:
    """Exit 0, or 2 with a reason: our one line (``diffusion-studio: error: …``) or argparse's usage error."""
    assert code in (0, 2), f"exit {code} for {list(argv)!r}: {err[-2000:]}"
    assert "Traceback" not in err, err
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        ours = [line for line in lines if line.startswith("diffusion-studio: error: ")]
        argparse_error = lines and ": error: " in lines[-1] and lines[0].startswith("usage:")
        assert len(ours) == 1 and lines[-1] == ours[0] or argparse_error, f"no one-line reason for {list(argv)!r}: {err!r}"


def print_case_counts(terminalreporter) -> None:
    if not CASES:
        return
    terminalreporter.section("generated cases (hypothesis)")
    for name, count in sorted(CASES.items()):
        terminalreporter.write_line(f"{count:6d}  {name}")
    terminalreporter.write_line(f"{sum(CASES.values()):6d}  in all")
