"""Resource ids: random UUID v4 text, never repeated, also not by a forked process or by
another thread."""

from __future__ import annotations

import os
import threading
import uuid

from akowe.db import base
from akowe.db.base import new_id


def test_ids_are_uuid4_text_and_unique() -> None:
    ids = [new_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    for value in ids[:300]:
        parsed = uuid.UUID(value)
        assert str(parsed) == value
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_an_id_is_the_text_uuid_makes_of_the_same_bytes(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # new_id sets the version and variant bits itself: the text must be what the uuid
    # module makes of the same random bytes, for every value those bits can take.
    pool = bytes(range(256)) * 16  # each of the 16 positions takes 16 values of both nibbles
    monkeypatch.setattr(os, "urandom", lambda n: pool[:n])
    base._forget_random()  # this thread's buffered bytes: read afresh from the pool
    try:
        for offset in range(0, 16 * 256, 16):
            expected = str(uuid.UUID(bytes=pool[offset : offset + 16], version=4))
            assert new_id() == expected
    finally:
        base._forget_random()  # never hand out the pool's ids again


def test_threads_and_forked_children_draw_their_own_ids() -> None:
    new_id()  # this thread now holds random bytes a child would inherit
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: write the ids it would use, then leave at once
        os.close(read)
        os.write(write, "\n".join(new_id() for _ in range(100)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split("\n"))
    os.waitpid(pid, 0)
    parent = {new_id() for _ in range(100)}
    others: list[str] = []
    thread = threading.Thread(target=lambda: others.extend(new_id() for _ in range(100)))
    thread.start()
    thread.join()
    assert len(child) == 100 and len(others) == 100
    assert not child & parent and not set(others) & parent and not child & set(others)
