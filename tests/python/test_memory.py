"""The caching CPU allocator (e3core.memory): reuse, limits, switching off, threads, fork."""

import multiprocessing
import os
import subprocess
import sys
import threading

import pytest
import torch
from e3core import memory

MIB = 1 << 20


@pytest.fixture(autouse=True)
def default_cache():
    """Each test starts from the default state (on, no limit) and leaves it so."""
    assert memory.set_cpu_cache(True)
    memory.empty_cpu_cache()
    yield
    assert memory.set_cpu_cache(True)


def test_on_after_import():
    assert memory.cpu_cache_stats()["enabled"]


def test_a_freed_block_serves_a_request_of_80_to_100_percent_of_its_size():
    x = torch.empty(4 * MIB, dtype=torch.uint8)
    address = x.data_ptr()
    del x
    stats = memory.cpu_cache_stats()
    assert stats["cached_bytes"] >= 4 * MIB and stats["in_use_bytes"] == 0
    y = torch.empty(4 * MIB - 100_000, dtype=torch.uint8)
    assert y.data_ptr() == address
    after = memory.cpu_cache_stats()
    assert after["hits"] == stats["hits"] + 1 and after["cached_bytes"] == 0
    z = torch.empty(8 * MIB, dtype=torch.uint8)
    assert memory.cpu_cache_stats()["misses"] == after["misses"] + 1
    assert z.data_ptr() != address


def test_a_block_is_not_lent_to_a_much_smaller_request():
    x = torch.empty(8 * MIB, dtype=torch.uint8)
    address = x.data_ptr()
    del x
    y = torch.empty(4 * MIB, dtype=torch.uint8)
    assert y.data_ptr() != address
    assert memory.cpu_cache_stats()["cached_bytes"] >= 8 * MIB


def test_small_allocations_bypass_the_cache():
    before = memory.cpu_cache_stats()
    tensors = [torch.empty(1000) for _ in range(100)]
    del tensors
    after = memory.cpu_cache_stats()
    assert (after["hits"], after["misses"]) == (before["hits"], before["misses"])


def test_reused_memory_holds_what_is_written_and_zeros_are_zeros():
    x = torch.full((MIB,), 7.0)
    del x
    y = torch.zeros(MIB)
    assert memory.cpu_cache_stats()["hits"] >= 1
    assert torch.count_nonzero(y) == 0
    y += 2.0
    assert torch.all(y == 2.0)


def test_the_limit_evicts_the_oldest_blocks():
    assert memory.set_cpu_cache(True, limit_bytes=6 * MIB)
    first = torch.empty(4 * MIB, dtype=torch.uint8)
    second = torch.empty(4 * MIB, dtype=torch.uint8)
    second_address = second.data_ptr()
    del first
    before = memory.cpu_cache_stats()
    del second
    stats = memory.cpu_cache_stats()
    assert stats["limit_bytes"] == 6 * MIB
    assert stats["evictions"] == before["evictions"] + 1
    assert stats["cached_bytes"] <= 6 * MIB
    assert torch.empty(4 * MIB, dtype=torch.uint8).data_ptr() == second_address


def test_the_default_limit_is_twice_the_peak():
    for size in (1, 2, 3, 4, 5, 6):
        torch.empty(size * MIB + 1, dtype=torch.uint8)
    stats = memory.cpu_cache_stats()
    assert stats["limit_bytes"] == 0
    assert stats["cached_bytes"] <= 2 * stats["peak_in_use_bytes"]
    assert stats["evictions"] > 0


def test_empty_gives_everything_back():
    torch.empty(4 * MIB, dtype=torch.uint8)
    assert memory.cpu_cache_stats()["cached_bytes"] > 0
    memory.empty_cpu_cache()
    stats = memory.cpu_cache_stats()
    assert stats["cached_bytes"] == 0 and stats["peak_in_use_bytes"] == stats["in_use_bytes"]


def test_switching_off_restores_torchs_allocator_and_frees_earlier_blocks():
    kept = torch.ones(4 * MIB, dtype=torch.uint8)
    torch.empty(2 * MIB, dtype=torch.uint8)
    assert not memory.set_cpu_cache(False)
    stats = memory.cpu_cache_stats()
    assert not stats["enabled"] and stats["cached_bytes"] == 0
    in_use = stats["in_use_bytes"]
    assert in_use >= 4 * MIB
    del kept
    assert memory.cpu_cache_stats()["in_use_bytes"] == in_use - 4 * MIB
    misses = memory.cpu_cache_stats()["misses"]
    assert torch.ones(4 * MIB, dtype=torch.uint8).sum() == 4 * MIB
    assert memory.cpu_cache_stats()["misses"] == misses
    assert memory.set_cpu_cache(True)


def test_a_bad_limit_is_refused():
    with pytest.raises(ValueError, match="limit_bytes must be a positive number"):
        memory.set_cpu_cache(True, limit_bytes=-1)


def test_the_environment_variable_leaves_torchs_allocator_alone():
    script = "from e3core import memory; print(memory.cpu_cache_stats()['enabled'])"
    env = dict(os.environ, E3CORE_CPU_MEMORY_CACHE="0")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_threads_allocating_and_freeing_at_once():
    errors = []

    def work(seed: int) -> None:
        for step in range(50):
            value = float(seed * 1000 + step)
            x = torch.full(((1 + (seed + step) % 5) * MIB // 4,), value)
            if not bool(torch.all(x == value)):
                errors.append((seed, step))

    before = memory.cpu_cache_stats()["in_use_bytes"]
    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert memory.cpu_cache_stats()["in_use_bytes"] == before


def _allocate_in_child(queue: multiprocessing.Queue) -> None:
    # OpenMP's pool does not survive fork (as in torch's DataLoader workers).
    torch.set_num_threads(1)
    queue.put(float(torch.ones(MIB).sum()))


def test_a_forked_child_allocates():
    torch.empty(4 * MIB, dtype=torch.uint8)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_allocate_in_child, args=(queue,))
    child.start()
    assert queue.get(timeout=60) == float(MIB)
    child.join(timeout=60)
    assert child.exitcode == 0
