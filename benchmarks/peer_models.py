"""The benchmark workloads in peer frameworks (each imported only when it runs)."""

from __future__ import annotations

import os

import numpy as np


def torch_eager(weights: dict[str, np.ndarray], spec: dict, lr: float):
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    dtype = getattr(torch, spec.get("dtype", "float64"))
    p = {k: torch.tensor(w, requires_grad=True) for k, w in weights.items()}
    optimizer = torch.optim.SGD(list(p.values()), lr=lr)

    def step(inputs, targets):
        x = torch.from_numpy(inputs)
        y = torch.from_numpy(targets)
        optimizer.zero_grad()
        if spec["kind"] == "xor":
            hidden = torch.sigmoid(x @ p["w1"] + p["b1"])
            loss = ((hidden @ p["w2"] + p["b2"] - y) ** 2).mean()
        else:
            state = torch.zeros(spec["batch"], spec["hidden"], dtype=dtype)
            for t in range(spec["steps"]):
                state = torch.tanh(x[:, t] @ p["w_ih"] + p["b_ih"] + state @ p["w_hh"] + p["b_hh"])
            loss = torch.nn.functional.cross_entropy(state @ p["w_out"] + p["b_out"], y)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def tf1_session(weights: dict[str, np.ndarray], spec: dict, lr: float):
    import tensorflow.compat.v1 as tf

    tf.disable_eager_execution()
    dtype = getattr(tf, spec.get("dtype", "float64"))
    graph = tf.Graph()
    with graph.as_default():
        v = {k: tf.Variable(w) for k, w in weights.items()}
        if spec["kind"] == "xor":
            x = tf.placeholder(dtype, (None, 2))
            y = tf.placeholder(dtype, (None, 2))
            hidden = tf.sigmoid(tf.matmul(x, v["w1"]) + v["b1"])
            loss = tf.reduce_mean(tf.square(tf.matmul(hidden, v["w2"]) + v["b2"] - y))
        else:
            x = tf.placeholder(dtype, (spec["batch"], spec["steps"], spec["features"]))
            y = tf.placeholder(tf.int64, (spec["batch"],))
            state = tf.zeros((spec["batch"], spec["hidden"]), dtype)
            for t in range(spec["steps"]):
                state = tf.tanh(
                    tf.matmul(x[:, t, :], v["w_ih"])
                    + v["b_ih"]
                    + tf.matmul(state, v["w_hh"])
                    + v["b_hh"]
                )
            logits = tf.matmul(state, v["w_out"]) + v["b_out"]
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
            )
        train = tf.train.GradientDescentOptimizer(lr).minimize(loss)
        init = tf.global_variables_initializer()
    # TensorFlow runs kernels on its own thread pools: give them the benchmark's thread count
    threads = int(os.environ.get("OMP_NUM_THREADS", "0"))
    config = tf.ConfigProto(intra_op_parallelism_threads=threads,
                            inter_op_parallelism_threads=threads)
    sess = tf.Session(graph=graph, config=config)
    sess.run(init)

    def step(inputs, targets):
        value, _ = sess.run([loss, train], {x: inputs, y: targets})
        return value

    return step


def jax_jit(weights: dict[str, np.ndarray], spec: dict, lr: float):
    import jax
    import jax.numpy as jnp

    if spec.get("dtype", "float64") == "float64":
        jax.config.update("jax_enable_x64", True)
    params = {k: jnp.asarray(w) for k, w in weights.items()}

    def loss_fn(p, x, y):
        if spec["kind"] == "xor":
            hidden = jax.nn.sigmoid(x @ p["w1"] + p["b1"])
            return jnp.mean((hidden @ p["w2"] + p["b2"] - y) ** 2)

        def cell(state, xt):
            return jnp.tanh(xt @ p["w_ih"] + p["b_ih"] + state @ p["w_hh"] + p["b_hh"]), None

        state0 = jnp.zeros((x.shape[0], p["w_hh"].shape[0]), x.dtype)
        state, _ = jax.lax.scan(cell, state0, jnp.swapaxes(x, 0, 1))
        logits = state @ p["w_out"] + p["b_out"]
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(x.shape[0]), y])

    @jax.jit
    def update(p, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
        return loss, jax.tree_util.tree_map(lambda w, g: w - lr * g, p, grads)

    def step(inputs, targets):
        nonlocal params
        loss, params = update(params, inputs, targets)
        return float(loss)

    return step
