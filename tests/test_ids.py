"""Request ids: well-formed, and not repeated by a forked process (pre-forked `--workers N`)."""

from __future__ import annotations

import os
import re

from sglang_gw.ids import random_hex


def test_ids_are_32_hex_digits_and_distinct() -> None:
    ids = {random_hex() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_a_forked_child_does_not_repeat_the_parents_ids() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its next id and leave at once
        os.write(write, random_hex().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert len(child) == 32 and child != random_hex()
