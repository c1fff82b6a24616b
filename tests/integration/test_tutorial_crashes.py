"""Issue 21's wrong result and crashes: what tutorial programs do that used to fail.

Each check compares with PyTorch 2.13 where it is installed, or with TF1's documented
behaviour (an LSTM state fed as a tuple, lists of tensors packed).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import tapeflow.dynamic as torch
import tapeflow.static as tf
from tapeflow.dynamic.utils.data import DataLoader


def test_zero_state_c_and_h_are_fed_separately() -> None:
    with tf.Graph().as_default():
        s0 = tf.nn.rnn_cell.BasicLSTMCell(2).zero_state(1, tf.float32)
        assert s0.c is not s0.h
        with tf.Session() as sess:
            c, h = sess.run([s0.c, s0.h], {s0.c: [[0.5, 0.5]], s0.h: [[-0.5, -0.5]]})
            fed = sess.run(s0, {s0: ([[1.0, 1.0]], [[2.0, 2.0]])})
    np.testing.assert_array_equal(c, [[0.5, 0.5]])
    np.testing.assert_array_equal(h, [[-0.5, -0.5]])
    assert type(fed).__name__ == "LSTMStateTuple"
    np.testing.assert_array_equal(fed.c, [[1.0, 1.0]])
    np.testing.assert_array_equal(fed.h, [[2.0, 2.0]])


def test_tuple_feed_of_the_wrong_structure_names_the_key() -> None:
    with tf.Graph().as_default():
        s0 = tf.nn.rnn_cell.BasicLSTMCell(2).zero_state(1, tf.float32)
        with tf.Session() as sess, pytest.raises(ValueError, match="structure"):
            sess.run(s0.c, {s0: [[1.0, 1.0]]})


def test_lstm_state_fed_through_dynamic_rnn_changes_the_output() -> None:
    with tf.Graph().as_default():
        tf.set_random_seed(0)
        x = tf.placeholder(tf.float32, [1, 3, 2])
        cell = tf.nn.rnn_cell.BasicLSTMCell(2)
        s0 = cell.zero_state(1, tf.float32)
        out, _ = tf.nn.dynamic_rnn(cell, x, initial_state=s0)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            feed = {x: np.ones((1, 3, 2), np.float32)}
            a = sess.run(out, {**feed, s0.c: [[1.0, 1.0]], s0.h: [[0.0, 0.0]]})
            b = sess.run(out, {**feed, s0.h: [[0.0, 0.0]], s0.c: [[1.0, 1.0]]})
            zero = sess.run(out, feed)
    np.testing.assert_array_equal(a, b)  # the order of the keys does not matter
    assert not np.allclose(a, zero)


def test_format_specs_on_0d_tensors() -> None:
    assert f"{torch.tensor(0.41703):.4f}" == "0.4170"
    assert "{:.2%}".format(torch.tensor(0.5)) == "50.00%"  # noqa: UP032 (str.format too)
    assert f"{torch.tensor(3)}" == "3"  # (PyTorch formats the item, spec or not)
    assert f"{torch.ones(2)}" == str(torch.ones(2))
    with pytest.raises(TypeError, match="unsupported format string"):
        format(torch.ones(2), ".2f")


@pytest.mark.parametrize("index", [
    lambda lib: (range(3), lib.tensor([2, 0, 2])),
    lambda lib: (lib.arange(2), lib.tensor([3, -1])),
    lambda lib: (slice(None), [0, 1], [2, 3]),
    lambda lib: (1, [0, 2]),
    lambda lib: ([[0], [1]], lib.tensor([[1, 2]])),
])
def test_several_index_arrays_match_pytorch(index) -> None:
    real = pytest.importorskip("torch")
    data = np.random.default_rng(0).standard_normal((3, 4, 4))
    outs = []
    for lib in (torch, real):
        x = lib.tensor(data, requires_grad=True)
        y = x[index(lib)]
        weights = lib.tensor(np.arange(1.0, 1.0 + y.numel(), dtype=np.float64)).reshape(y.shape)
        (y * weights).sum().backward()
        outs.append((y.detach().numpy(), x.grad.numpy()))
    np.testing.assert_allclose(outs[0][0], outs[1][0])
    np.testing.assert_allclose(outs[0][1], outs[1][1])  # repeated picks add up


def test_several_index_arrays_refuse_out_of_range_and_assign() -> None:
    x = torch.zeros(2, 3)
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 1 with size 3"):
        x[[0, 1], [5, 0]]
    x[range(2), torch.tensor([2, 0])] = 5.0
    np.testing.assert_array_equal(x.numpy(), [[0, 0, 5], [5, 0, 0]])


def test_hand_written_nll_matches_pytorch() -> None:
    real = pytest.importorskip("torch")
    logits = np.random.default_rng(1).standard_normal((4, 3))
    target = [0, 2, 1, 2]
    losses = []
    for lib in (torch, real):
        z = lib.tensor(logits, requires_grad=True)
        loss = -z.log_softmax(1)[range(4), lib.tensor(target)].mean()
        loss.backward()
        losses.append((loss.item(), z.grad.numpy()))
    assert losses[0][0] == pytest.approx(losses[1][0])
    np.testing.assert_allclose(losses[0][1], losses[1][1], atol=1e-12)


def test_save_and_load_through_file_objects(tmp_path) -> None:
    path = tmp_path / "model.pt"
    with open(path, "wb") as f:
        torch.save({"w": torch.arange(3.0)}, f)
    with open(path, "rb") as f:
        assert torch.load(f)["w"].tolist() == [0.0, 1.0, 2.0]
    buffer = io.BytesIO()
    torch.save([torch.ones(2)], buffer)
    buffer.seek(0)
    assert torch.load(buffer)[0].tolist() == [1.0, 1.0]
    with pytest.raises(TypeError, match="binary file object with write"):
        torch.save(torch.ones(1), 3)


def test_lists_holding_tensors_are_packed() -> None:
    with tf.Graph().as_default():
        y = tf.constant(2.0)
        stopped = tf.stop_gradient([y])
        total = tf.reduce_sum([y, 3.0])
        nested = tf.convert_to_tensor([[y, y], [1.0, y]])
        (grad,) = tf.gradients(tf.reduce_sum(stopped) * y, [y])
        with tf.Session() as sess:
            out = sess.run([stopped, total, nested, grad])
    assert stopped.shape.as_list() == [1]
    np.testing.assert_array_equal(out[0], [2.0])
    assert out[1] == 5.0
    np.testing.assert_array_equal(out[2], [[2.0, 2.0], [1.0, 2.0]])
    assert out[3] == 2.0  # only the unstopped factor passes a gradient


def test_empty_dataset_with_shuffle_raises_pytorchs_error() -> None:
    with pytest.raises(ValueError, match="num_samples should be a positive integer value, "
                                         "but got num_samples=0"):
        DataLoader([], shuffle=True)
    assert list(DataLoader([], shuffle=False)) == []
