"""Reading an upload in a child process with memory and CPU limits.

The parser is linear and bounded, but a page that serves shoppers should not trust that
alone: Python's regex engine and parsers hold the GIL, and a Streamlit server is one
process. Here the work runs in a fresh interpreter (`python -m dona.catalog.isolated`,
never a fork of a threaded server) whose address space and CPU time are capped with
`resource.setrlimit`; whatever a file does, it costs at most that child, and the page gets
a `CatalogFileError` that says what to do.
"""

from __future__ import annotations

import pickle
import resource
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from dona.catalog.parse import ParseOptions, ParseResult, parse_catalog, preview_rows
from dona.errors import CatalogFileError, DonaError

# The work a child may be asked to do (by name: nothing else is ever run).
_JOBS = {"parse": parse_catalog, "preview": preview_rows}


@dataclass(frozen=True)
class Limits:
    """What one check of an upload may cost: memory added on top of the interpreter, CPU
    seconds, and wall seconds (a stalled child is killed too)."""

    memory_mb: int = 1024
    cpu_seconds: int = 60
    wall_seconds: int = 120

    @classmethod
    def for_upload(cls, size: int) -> Limits:
        """Room for a large legitimate catalog: products kept cost a few times the file."""
        mb = size / (1024 * 1024)
        cpu = int(60 + 2 * mb)
        return cls(memory_mb=int(1024 + 8 * mb), cpu_seconds=cpu, wall_seconds=2 * cpu + 30)


def parse_isolated(
    data: bytes,
    filename: str | None = None,
    options: ParseOptions | None = None,
    limits: Limits | None = None,
) -> ParseResult:
    """`parse_catalog` in a child process under `limits`."""
    return _run("parse", (data, filename, options), limits or Limits.for_upload(len(data)))


def preview_isolated(
    data: bytes,
    filename: str | None = None,
    limit: int = 10,
    max_bytes: int = ParseOptions.max_bytes,
    limits: Limits | None = None,
) -> tuple[list[str], list[dict[str, Any]], str]:
    """`preview_rows` in a child process under `limits`."""
    return _run(
        "preview", (data, filename, limit, max_bytes), limits or Limits.for_upload(len(data))
    )


def _run(job: str, args: tuple, limits: Limits) -> Any:
    request = pickle.dumps((job, args, limits), protocol=pickle.HIGHEST_PROTOCOL)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "dona.catalog.isolated"],
            input=request,
            capture_output=True,
            timeout=limits.wall_seconds,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise _too_slow(limits) from None
    if done.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        raise _too_slow(limits)
    try:
        # our own child wrote this pickle (of values it built), so it is trusted data
        kind, payload = pickle.loads(done.stdout)
    except Exception:
        raise CatalogFileError(
            f"checking the file stopped unexpectedly (exit status {done.returncode}); try "
            "again, or export the catalog as CSV UTF-8",
            code="check_crashed",
            params={"status": done.returncode},
        ) from None
    if kind == "ok":
        return payload
    if kind == "memory":
        raise CatalogFileError(
            f"checking the file needed more than {limits.memory_mb:,} MB of memory; split "
            "the catalog into smaller files",
            code="check_memory",
            params={"limit_mb": limits.memory_mb},
        )
    message, code, params = payload  # the child's error, with what localizes it
    raise CatalogFileError(message, code=code, params=params)


def _too_slow(limits: Limits) -> CatalogFileError:
    return CatalogFileError(
        f"checking the file took longer than {limits.cpu_seconds} s; split the catalog "
        "into smaller files",
        code="check_too_slow",
        params={"seconds": limits.cpu_seconds},
    )


def _address_space() -> int:
    """This process's current virtual size in bytes (what RLIMIT_AS counts)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _child() -> None:
    job, args, limits = pickle.load(sys.stdin.buffer)
    memory = _address_space() + limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    # SIGXCPU at the soft limit ends the process; the hard limit (SIGKILL) is a backstop
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 2))
    try:
        reply: tuple[str, Any] = ("ok", _JOBS[job](*args))
    except DonaError as exc:
        reply = ("refused", (str(exc), exc.code, exc.params))
    except MemoryError:
        reply = ("memory", None)
    try:
        out = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        out = pickle.dumps(("memory", None))
    sys.stdout.buffer.write(out)
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    _child()
