"""Reading an untrusted font file in a child process with CPU, memory and output bounds.

fontTools is a pure-Python parser that was not written for hostile input: a crafted file can
make it loop, recurse or allocate for a long time. An upload is therefore read first by
`python -m akowe.fonts.sandbox`, a fresh interpreter that limits its own CPU time, address
space and file writes before it reads a byte, and that is killed if it outlives a wall-clock
deadline. It runs exactly what rendering will run on the file later (the renderer's
`inspect_font`, HarfBuzz, and for CFF fonts the conversion of every glyph to TrueType
outlines), so only files that passed within those bounds ever reach the server process.

The child reads the font on stdin and writes one JSON object on stdout: `{"info": {...}}`
or `{"error": "..."}` for a file that is not a usable font.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass
from typing import Any

import anyio

from akowe.errors import ServiceError
from akowe.rendering import FontInfo

CPU_SECONDS = 20
MEMORY_BYTES = 1536 * 1024 * 1024
WALL_SECONDS = 30.0
# At most this many inspections at once per process; more answer 503 rather than queue.
CONCURRENT = 2
_MAX_TEXT = 2000
_MAX_OUTPUT = 64 * 1024

_slots = threading.BoundedSemaphore(CONCURRENT)


class FontUnreadable(ValueError):
    """The file is not a font the renderer can use; the message says why."""


class InspectorBusy(ServiceError):
    """Too many font uploads are being checked at once."""

    code = "service_busy"
    status_code = 503
    default_message = "The service is busy checking other fonts. Please retry in a moment."


@dataclass(frozen=True, slots=True)
class Inspected:
    """What the sandbox found: the renderer's description plus the licence strings."""

    info: FontInfo
    license: str | None  # name ID 13, "License Description"
    license_url: str | None  # name ID 14, "License Info URL"


async def inspect(data: bytes) -> Inspected:
    """Read `data` in a bounded child process; raises FontUnreadable or InspectorBusy."""
    if not _slots.acquire(blocking=False):
        raise InspectorBusy()
    try:
        try:
            with anyio.fail_after(WALL_SECONDS):
                done = await anyio.run_process(
                    [sys.executable, "-I", "-m", "akowe.fonts.sandbox"],
                    input=data,
                    stderr=subprocess.DEVNULL,
                    # Nothing of the service's environment (SMTP URL, database URL...)
                    # reaches the process that reads hostile input.
                    env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8"},
                    check=False,
                )
        except TimeoutError as exc:
            raise FontUnreadable("the font took too long to read") from exc
    finally:
        _slots.release()
    try:
        answer = json.loads(done.stdout[:_MAX_OUTPUT])
    except ValueError:
        answer = None
    if done.returncode != 0 or not isinstance(answer, dict):
        # Killed by a limit (SIGXCPU, MemoryError) or crashed: the file is refused either way.
        raise FontUnreadable("the font could not be read within the time and memory limits")
    if "error" in answer:
        raise FontUnreadable(str(answer["error"]))
    info = answer["info"]
    return Inspected(FontInfo(**info["font"]), info["license"], info["licenseUrl"])


def _limit_self() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS + 1))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


def _license(data: bytes) -> tuple[str | None, str | None]:
    import io

    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

    names = TTFont(io.BytesIO(data), lazy=True)["name"]

    def text(name_id: int) -> str | None:
        value = " ".join((names.getDebugName(name_id) or "").split())
        return value[:_MAX_TEXT] or None

    return text(13), text(14)


def _read(data: bytes) -> dict[str, Any]:
    from akowe.rendering import fonts

    try:
        info = fonts.inspect_font(data)
        if info.outlines == "cff":
            # Rendering converts the glyphs it draws to TrueType outlines; converting them
            # all once here proves every glyph converts within the bounds.
            fonts.Font(info.family, data).subset(set(range(info.glyph_count)))
        license, license_url = _license(data)
    except fonts.FontError as exc:
        return {"error": str(exc)[:_MAX_TEXT]}
    except Exception as exc:  # any parser failure on hostile input is a refusal, not a crash
        return {"error": f"the font file is damaged: {type(exc).__name__}"}
    font = asdict(info)
    for key in ("family", "full_name"):
        font[key] = str(font[key])[:300]
    return {"info": {"font": font, "license": license, "licenseUrl": license_url}}


def main() -> None:
    """Child entry point: bound this process, read the font on stdin, answer on stdout."""
    _limit_self()
    data = sys.stdin.buffer.read()
    sys.stdout.write(json.dumps(_read(data)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
