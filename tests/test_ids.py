"""Ids: well-formed, and not repeated by a forked process (pre-forked `--workers N`); the
unguessable ones drawn evenly from OS randomness."""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Callable

import pytest

from sglang_gw.ids import random_hex, secret_alnum, secret_hex, time_ordered_secret_hex


def test_ids_are_32_hex_digits_and_distinct() -> None:
    ids = {random_hex() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


@pytest.mark.parametrize("make", [random_hex, lambda: secret_hex(16), lambda: secret_alnum(32)])
def test_a_forked_child_does_not_repeat_the_parents_ids(make: Callable[[], str]) -> None:
    make()  # the buffer of the secret ones holds more bytes now, which the child must not reuse
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its next id and leave at once
        os.write(write, make().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert len(child) == 32 and child != make()


def test_secret_ids_are_well_formed_and_distinct_across_buffer_refills() -> None:
    hexes = [secret_hex(24) for _ in range(2_000)]  # 48 kB: several 4 KiB reads
    assert len(set(hexes)) == len(hexes) and all(re.fullmatch(r"[0-9a-f]{48}", h) for h in hexes)
    names = [secret_alnum(n) for n in (1, 9, 24, 5000) for _ in range(50)]
    assert len(set(names[50:])) == len(names) - 50  # one letter may repeat; longer ones never
    assert all(re.fullmatch(r"[A-Za-z0-9]+", n) for n in names)
    assert [len(n) for n in names] == [n for n in (1, 9, 24, 5000) for _ in range(50)]


def test_secret_letters_are_drawn_evenly() -> None:
    # 62 letters from bytes: the 8 values past 247 are skipped, else the first 8 letters
    # would come up 5/256 of the time instead of 4/256 (25% more often).
    counts = Counter(secret_alnum(620_000))
    assert len(counts) == 62
    assert max(counts.values()) < 10_000 * 1.06 and min(counts.values()) > 10_000 * 0.94


def test_time_ordered_ids_sort_by_time_and_keep_a_secret_tail() -> None:
    before = time.time_ns() // 1_000_000
    first = [time_ordered_secret_hex(24) for _ in range(1_000)]
    time.sleep(0.002)
    later = time_ordered_secret_hex(24)
    after = time.time_ns() // 1_000_000
    assert all(re.fullmatch(r"[0-9a-f]{48}", i) for i in [*first, later])
    assert all(before <= int(i[:12], 16) <= after for i in first)
    assert later > max(first)  # a later millisecond sorts after every id of an earlier one
    tails = {i[12:] for i in first}
    assert len(tails) == len(first)  # 144 secret bits each: never repeated
