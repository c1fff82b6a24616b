"""``torch.utils.data``: datasets, splits, and a DataLoader that batches and shuffles.

Checks batching (last partial batch, ``drop_last``, ``len``), seeded shuffling that covers
every sample once per epoch and changes between epochs, ``default_collate`` on the shapes
tutorials feed it, ``random_split``, and a training loop over a DataLoader that learns.
"""

from __future__ import annotations

import numpy as np
import pytest
import tapeflow.dynamic as torch
from tapeflow.dynamic.utils.data import (
    DataLoader,
    Dataset,
    TensorDataset,
    default_collate,
    random_split,
)


def dataset(n: int = 10) -> TensorDataset:
    return TensorDataset(torch.arange(float(2 * n)).reshape(n, 2), torch.arange(n))


def test_batches_in_order_with_a_partial_last_batch() -> None:
    loader = DataLoader(dataset(), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [b[1].tolist() for b in batches] == [[0, 1, 2, 3],
                                                                      [4, 5, 6, 7], [8, 9]]
    assert batches[0][0].shape == (4, 2) and batches[0][1].dtype == torch.int64
    dropped = DataLoader(dataset(), batch_size=4, drop_last=True)
    assert len(dropped) == 2 and [b[1].tolist() for b in dropped] == [[0, 1, 2, 3],
                                                                       [4, 5, 6, 7]]
    single = list(DataLoader(dataset(3), batch_size=None))
    assert [s[1].item() for s in single] == [0, 1, 2]
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        DataLoader(dataset(), batch_size=0)


def test_shuffling_is_seeded_and_covers_every_sample_each_epoch() -> None:
    torch.manual_seed(3)
    loader = DataLoader(dataset(), batch_size=3, shuffle=True)
    first = [i for _, y in loader for i in y.tolist()]
    second = [i for _, y in loader for i in y.tolist()]
    torch.manual_seed(3)
    again = [i for _, y in loader for i in y.tolist()]
    assert sorted(first) == list(range(10)) and sorted(second) == list(range(10))
    assert first != second and first == again


def test_default_collate_handles_what_tutorials_feed_it() -> None:
    batch = default_collate([(torch.ones(2), 1, {"w": 0.5}), (torch.zeros(2), 2, {"w": 1.5})])
    assert batch[0].tolist() == [[1, 1], [0, 0]] and batch[1].tolist() == [1, 2]
    assert batch[2]["w"].tolist() == [0.5, 1.5]
    arrays = default_collate([np.ones(3), np.zeros(3)])
    assert isinstance(arrays, torch.Tensor) and arrays.shape == (2, 3)
    with pytest.raises(TypeError, match="default_collate"):
        default_collate([object(), object()])


def test_random_split_makes_disjoint_subsets() -> None:
    torch.manual_seed(0)
    train, test = random_split(dataset(), [7, 3])
    labels = [train[i][1].item() for i in range(len(train))] + \
        [test[i][1].item() for i in range(len(test))]
    assert len(train) == 7 and len(test) == 3 and sorted(labels) == list(range(10))
    parts = random_split(dataset(), [0.5, 0.3, 0.2])
    assert [len(p) for p in parts] == [5, 3, 2]
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(dataset(), [4, 4])
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(torch.zeros(3), torch.zeros(4))


def test_a_custom_dataset_and_a_training_loop_learn() -> None:
    class Line(Dataset):  # y = 3x - 1 with a little noise
        def __init__(self) -> None:
            rng = np.random.default_rng(0)
            self.x = rng.uniform(-1, 1, (64, 1)).astype(np.float32)
            self.y = (3 * self.x - 1 + 0.01 * rng.standard_normal((64, 1))).astype(np.float32)

        def __len__(self) -> int:
            return 64

        def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
            return self.x[i], self.y[i]

    torch.manual_seed(0)
    model = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(30):
        for x, y in DataLoader(Line(), batch_size=16, shuffle=True):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
    assert abs(model.weight.item() - 3) < 0.05 and abs(model.bias.item() + 1) < 0.05
