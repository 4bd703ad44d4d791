"""The codec side's memory helpers: per-thread scratch arrays and mapping a new output ahead."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

from azarr.core import cpu


def _drain_prefaulter() -> None:
    if cpu._PREFAULTER is not None:
        cpu._PREFAULTER.submit(lambda: None).result(timeout=30)


def test_prefault_never_changes_contents_even_while_written() -> None:
    arr = np.arange(3 << 20, dtype="f4")  # 12 MiB: several pieces
    expected = arr.copy()
    cpu.prefault(arr)
    arr[::1000] = -1  # writers may fill the output meanwhile
    expected[::1000] = -1
    _drain_prefaulter()
    np.testing.assert_array_equal(arr, expected)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="MADV_POPULATE_WRITE is Linux's")
def test_prefault_maps_a_new_array() -> None:
    import resource

    arr = np.empty(16 << 20, dtype="u1")
    cpu.prefault(arr)
    _drain_prefaulter()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    arr[::4096] = 1  # one write per page
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    if cpu._madvise is False:
        pytest.fail("this Linux kernel has no MADV_POPULATE_WRITE (5.14+)")
    assert faults < 16 << 20 >> 12 >> 4  # far fewer than one per page (4096 pages)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="madvise is Linux's")
@pytest.mark.parametrize("slow", [False, True])
def test_prefault_maps_in_small_pages_after_a_slow_first_piece(monkeypatch: pytest.MonkeyPatch, slow: bool) -> None:
    """When mapping the first piece costs more CPU than 4 KiB pages would (huge pages the
    hypervisor must back anew), the rest is mapped in 4 KiB pages and then marked for huge
    pages again; otherwise the advice is never touched."""
    real = cpu._libc_madvise()
    if not real:
        pytest.skip("no libc madvise here")
    calls: list[tuple[int, int, int]] = []

    def recording(start: int, length: int, advice: int) -> int:
        calls.append((start, length, advice))
        return int(real(start, length, advice))

    _drain_prefaulter()
    monkeypatch.setattr(cpu, "_madvise", recording)
    monkeypatch.setattr(cpu, "_SLOW_MAPPING", 0.0 if slow else float("inf"))
    arr = np.empty(3 * cpu._PREFAULT_PIECE, dtype="u1")
    arr[:] = 7
    cpu.prefault(arr)
    arr[::4096] = 9  # decoders may write meanwhile
    _drain_prefaulter()
    assert (arr[::4096] == 9).all() and (arr[1::4096] == 7).all()
    advice = [a for _, _, a in calls]
    populated = sum(n for _, n, a in calls if a == cpu._MADV_POPULATE_WRITE)
    assert populated >= arr.nbytes - 2 * 4096  # every whole page of it
    if slow:
        assert advice[0] == cpu._MADV_POPULATE_WRITE and advice[1] == cpu._MADV_NOHUGEPAGE
        assert advice[-1] == cpu._MADV_HUGEPAGE and advice.count(cpu._MADV_NOHUGEPAGE) == 1
        first, rest, back = calls[0], calls[1], calls[-1]
        assert rest[0] == first[0] + first[1] and rest[0] + rest[1] == back[0] + back[1]
        assert back[0] == first[0]  # the whole range is marked as numpy left it
    else:
        assert set(advice) == {cpu._MADV_POPULATE_WRITE}


def test_prefault_skips_small_and_object_arrays() -> None:
    cpu.prefault(np.empty(10, dtype="f8"))
    cpu.prefault(np.empty(1 << 20, dtype=object))  # no error, nothing to map


def test_scratch_is_reused_per_thread_and_sized_exactly() -> None:
    a = cpu.scratch((4, 8), np.dtype("f4"))
    assert a.shape == (4, 8) and a.dtype == np.dtype("f4") and a.flags.c_contiguous
    b = cpu.scratch((2, 8), np.dtype("<i8"))
    assert b.shape == (2, 8) and np.shares_memory(a, b)  # the same memory, reinterpreted
    other: list[np.ndarray] = []
    t = threading.Thread(target=lambda: other.append(cpu.scratch((4, 8), np.dtype("f4"))))
    t.start()
    t.join()
    assert not np.shares_memory(a, other[0])  # each thread has its own
    big = cpu.scratch((cpu.SCRATCH_MAX // 4 + 1,), np.dtype("f4"))
    assert not np.shares_memory(big, cpu.scratch((4,), np.dtype("f4")))  # too big to keep: fresh
    objs = cpu.scratch((3,), np.dtype(object))
    assert objs.dtype == object and all(x is None for x in objs)  # never reinterpreted bytes
