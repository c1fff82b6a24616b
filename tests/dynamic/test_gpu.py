"""tapeflow.dynamic on the cupy backend (``device='cuda'``); skipped without a GPU."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import tapeflow.dynamic as torch
from tapeflow.runtime import gpu_available

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not gpu_available(), reason="needs cupy and a CUDA device")]


def test_creation_and_transfer():
    x = torch.ones(2, 3, device="cuda")
    assert x.device.type == "cuda" and x.is_cuda and x.type() == "torch.cuda.FloatTensor"
    assert torch.arange(4, device="cuda").cpu().tolist() == [0, 1, 2, 3]
    y = torch.tensor([1.0, 2.0]).to("cuda")
    assert y.device == torch.device("cuda") and y.cpu().device == torch.device("cpu")
    assert y.storage().data_ptr() == y.data_ptr()
    with pytest.raises(TypeError, match="cpu"):
        y.numpy()


def test_training_step_on_the_gpu_matches_the_cpu():
    results = []
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.Sigmoid(),
                                    torch.nn.Linear(5, 2)).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], device=device)
        y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]], device=device)
        for _ in range(20):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
        results.append(loss.item())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-4)


def test_mixed_devices_are_an_error():
    with pytest.raises(RuntimeError, match="same device"):
        torch.ones(2) + torch.ones(2, device="cuda")


# ---- static mode on the GPU: CUDA-graph replay, cupy feeds ------------------------------


def _static_xor(device: str, cuda_graph: bool = True, dropout: bool = False) -> tuple[Any, ...]:
    import tapeflow.static as tf
    from tapeflow.static import CompileOptions

    rng = np.random.default_rng(0)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float64, (None, 2), name="x")
        y = tf.placeholder(tf.float64, (None, 2), name="y")
        w1 = tf.Variable(rng.uniform(-1, 1, (2, 5)), name="w1")
        w2 = tf.Variable(rng.uniform(-1, 1, (5, 2)), name="w2")
        hidden = tf.sigmoid(tf.matmul(x, w1))
        if dropout:
            hidden = tf.nn.dropout(hidden, keep_prob=0.5)
        loss = tf.reduce_mean(tf.square(tf.sigmoid(tf.matmul(hidden, w2)) - y))
        train = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
        init = tf.global_variables_initializer()
    options = CompileOptions(device=device, cuda_graph=cuda_graph)
    sess = tf.Session(graph=graph, options=options)
    sess.run(init)
    return sess, x, y, loss, train, (w1, w2)


XS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float64)
YS = np.array([[1, 0], [0, 1], [0, 1], [1, 0]], np.float64)


def _train(sess: Any, x: Any, y: Any, loss: Any, train: Any, steps: int, feed: Any) -> list[float]:
    return [float(sess.run([loss, train], {x: feed(XS), y: feed(YS)})[0]) for _ in range(steps)]


def test_a_static_plan_on_the_gpu_replays_a_cuda_graph_and_matches_the_cpu():
    import cupy
    from tapeflow.static.compiler.cuda_graph import REPLAY

    cpu = _static_xor("cpu")
    gpu = _static_xor("gpu")
    expected = _train(*cpu[:5], 30, lambda a: a)
    got = _train(*gpu[:5], 30, cupy.asarray)  # cupy feeds: they stay on the device
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    sess, x, y, loss, train, weights = gpu
    plan = sess.plan([loss, train], {x: cupy.asarray(XS), y: cupy.asarray(YS)})
    assert plan.execution == REPLAY
    for w_gpu, w_cpu in zip(weights, cpu[5], strict=True):
        np.testing.assert_allclose(sess.run(w_gpu), cpu[0].run(w_cpu), rtol=1e-9)


def test_replay_can_be_switched_off_and_random_ops_are_never_captured():
    from tapeflow.static.compiler.cuda_graph import PLAIN

    sess, x, y, loss, train, _ = _static_xor("gpu", cuda_graph=False)
    _train(sess, x, y, loss, train, 3, lambda a: a)
    assert sess.plan([loss, train], {x: XS, y: YS}).execution.startswith(f"{PLAIN} (CUDA-graph")
    sess, x, y, loss, train, _ = _static_xor("gpu", dropout=True)
    losses = _train(sess, x, y, loss, train, 4, lambda a: a)
    assert len(set(losses)) == 4  # a fresh mask each step
    assert "draws on the host" in sess.plan([loss, train], {x: XS, y: YS}).execution


def test_cupy_feeds_are_not_copied_through_the_host():
    import cupy
    from tapeflow.runtime.backend import as_array

    a = cupy.arange(6, dtype=cupy.float64).reshape(2, 3)
    assert as_array(a, np.float64, "gpu") is a  # the very array: no round trip
    assert as_array(a, np.float32, "gpu").dtype == np.float32
    np.testing.assert_array_equal(as_array(a, np.float64, "cpu"), a.get())


def test_sparse_cross_entropy_on_cupy_gives_nan_for_a_bad_label_without_a_host_sync():
    import cupy
    from tapeflow.runtime import evaluate, get

    logits = cupy.asarray([[1.0, 2.0], [0.5, 0.1]])
    labels = cupy.asarray([1, 5])
    loss = evaluate(get("sparse_softmax_cross_entropy"), [logits, labels], {})
    assert np.isfinite(float(loss[0])) and np.isnan(float(loss[1]))


def test_a_classifier_with_sparse_cross_entropy_is_captured():
    import cupy
    import tapeflow.static as tf
    from tapeflow.static import CompileOptions
    from tapeflow.static.compiler.cuda_graph import REPLAY

    losses = {}
    for device in ("cpu", "gpu"):
        with tf.Graph().as_default():
            x = tf.placeholder(tf.float64, (4, 3), name="x")
            labels = tf.placeholder(tf.int64, (4,), name="labels")
            w = tf.Variable(np.linspace(-1, 1, 6).reshape(3, 2), name="w")
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=labels, logits=tf.matmul(x, w)))
            train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
            with tf.Session(options=CompileOptions(device=device)) as sess:
                sess.run(tf.global_variables_initializer())
                feed = {x: np.arange(12.0).reshape(4, 3) / 10, labels: np.array([0, 1, 1, 0])}
                losses[device] = [sess.run([loss, train], feed)[0] for _ in range(5)]
                if device == "gpu":
                    assert sess.plan([loss, train], feed).execution == REPLAY
                    assert isinstance(sess.run(w), np.ndarray) and cupy is not None
    np.testing.assert_allclose(losses["gpu"], losses["cpu"], rtol=1e-9)


def test_tf_function_traces_a_model_whose_parameters_are_on_the_gpu():
    import tapeflow.static as tf

    losses, concretes = {}, {}
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.Sigmoid(),
                                    torch.nn.Linear(5, 2)).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        x = torch.tensor(XS.astype(np.float32), device=device)
        y = torch.tensor(YS.astype(np.float32), device=device)

        @tf.function
        def step(x, y):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            return loss

        results = [step(x, y) for _ in range(10)]
        losses[device] = [r.item() for r in results]
        concretes[device] = step.concrete_functions[-1]
        assert all(r.device.type == device for r in results)
        assert all(p.device.type == device for p in model.parameters())
    np.testing.assert_allclose(losses["cuda"], losses["cpu"], rtol=1e-5)
    assert concretes["cuda"].session.options.device == "gpu"


@pytest.mark.parametrize("exponent", [2, 2.5, np.float32(3.0)])
def test_backward_through_pow_with_a_number_exponent_stays_on_the_gpu(exponent: Any) -> None:
    # pow's rule once made x^(y-1)'s exponent a host array: "cuda:0 and cpu" in backward
    x = torch.tensor([1.0, 3.0], device="cuda", requires_grad=True)
    (x ** exponent).sum().backward()
    assert x.grad.device == torch.device("cuda")
    e = float(exponent)
    np.testing.assert_allclose(x.grad.cpu().numpy(), e * np.array([1.0, 3.0]) ** (e - 1),
                               rtol=1e-6)
