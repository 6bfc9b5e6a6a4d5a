"""The seeded shard sampler: W ranks with batches of b/W see exactly what one process with batches of b sees."""

from __future__ import annotations

import pytest
import torch

from nwb_dyn.data.datamodule import SeededShardSampler


def _batches(sampler: SeededShardSampler, batch_size: int) -> list[list[int]]:
    order = list(sampler)
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


@pytest.mark.parametrize("num_items, global_batch", [(12, 4), (10, 4), (8, 8)])
def test_two_ranks_together_take_the_one_process_batches(num_items: int, global_batch: int) -> None:
    single = SeededShardSampler(num_items, seed=3, shuffle=True)
    ranks = [SeededShardSampler(num_items, seed=3, shuffle=True, rank=r, world_size=2) for r in range(2)]
    for epoch in range(3):
        for sampler in (single, *ranks):
            sampler.set_epoch(epoch)
        expected = [sorted(batch) for batch in _batches(single, global_batch)]
        per_rank = [_batches(sampler, global_batch // 2) for sampler in ranks]
        together = [sorted(a + b) for a, b in zip(*per_rank)]
        assert together == expected


def test_order_is_a_function_of_seed_and_epoch_only() -> None:
    sampler = SeededShardSampler(20, seed=5, shuffle=True)
    sampler.set_epoch(4)
    first = list(sampler)
    sampler.set_epoch(0)
    list(sampler)
    sampler.set_epoch(4)
    assert list(sampler) == first
    assert first == torch.randperm(20, generator=torch.Generator().manual_seed(5 + 4)).tolist()
    sampler.set_epoch(5)
    assert list(sampler) != first


def test_uneven_counts_are_padded_so_every_rank_takes_as_many_steps() -> None:
    shards = [list(SeededShardSampler(7, seed=0, shuffle=False, rank=r, world_size=2)) for r in range(2)]
    assert shards == [[0, 2, 4, 6], [1, 3, 5, 0]]
    assert len(SeededShardSampler(7, seed=0, shuffle=False, world_size=2)) == 4
