"""Checkpoints: dynamic save/load, static tf.train.Saver, and one file read by both modes.

Interchange is shown on XOR both ways; errors (missing key, wrong shape or dtype, a file cut
in half) must name the parameter and leave every variable / parameter as it was.
"""

from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np
import pytest
import tapeflow.dynamic as torch
import tapeflow.static as tf
from tapeflow.compare.weights import xor_weights
from tapeflow.compare.xor_dynamic import XorDynamic, XorNet
from tapeflow.compare.xor_static import XorStatic
from tapeflow.runtime.checkpoint import CheckpointError, read_checkpoint

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
Y = np.array([[1, 0], [0, 1], [0, 1], [1, 0]], dtype=np.float32)
TORCH_KEYS = ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")


def trained_dynamic(steps: int = 60) -> XorNet:
    trainer = XorDynamic(xor_weights(3, "float32"), lr=0.5, dtype="float32")
    for _ in range(steps):
        trainer.step(X, Y)
    return trainer.model


def dynamic_forward(model: XorNet) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(X)).numpy().copy()


class TorchLayoutXor:
    """Static XOR whose weights are (out, in), as nn.Linear keeps them; Saver uses its keys."""

    def __init__(self, seed: int = 1) -> None:
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.set_random_seed(seed)
            self.x = tf.placeholder(tf.float32, [None, 2], name="x")
            self.y = tf.placeholder(tf.float32, [None, 2], name="y")
            shapes = {"fc1.weight": [5, 2], "fc1.bias": [5], "fc2.weight": [2, 5],
                      "fc2.bias": [2]}
            self.vars = {k: tf.Variable(tf.random_uniform(s, -1.0, 1.0), name=k.replace(".", "/"))
                         for k, s in shapes.items()}
            v = self.vars
            hidden = tf.sigmoid(tf.matmul(self.x, v["fc1.weight"], transpose_b=True)
                                + v["fc1.bias"])
            self.output = tf.matmul(hidden, v["fc2.weight"], transpose_b=True) + v["fc2.bias"]
            loss = tf.losses.mean_squared_error(labels=self.y, predictions=self.output)
            self.train_op = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
            self.saver = tf.train.Saver(dict(self.vars))
            init = tf.global_variables_initializer()
        self.sess = tf.Session(graph=self.graph)
        self.sess.run(init)

    def forward(self) -> np.ndarray:
        return self.sess.run(self.output, {self.x: X})

    def values(self) -> dict[str, np.ndarray]:
        return {k: np.array(self.sess.run(v)) for k, v in self.vars.items()}


# ---- interchange ----------------------------------------------------------------------------


def test_dynamic_weights_restore_into_the_static_graph_and_give_the_same_outputs(tmp_path):
    model = trained_dynamic()
    path = tmp_path / "xor.pt"
    torch.save(model.state_dict(), path)
    assert list(read_checkpoint(path).tensors) == list(TORCH_KEYS)
    static = TorchLayoutXor()
    assert not np.allclose(static.forward(), dynamic_forward(model))
    static.saver.restore(static.sess, str(path))
    np.testing.assert_allclose(static.forward(), dynamic_forward(model), rtol=1e-6, atol=1e-7)


def test_static_weights_load_into_the_dynamic_model_and_give_the_same_outputs(tmp_path):
    static = TorchLayoutXor(seed=5)
    for _ in range(30):
        static.sess.run(static.train_op, {static.x: X, static.y: Y})
    path = static.saver.save(static.sess, str(tmp_path / "xor.ckpt"))
    loaded = torch.load(path)
    assert isinstance(loaded, OrderedDict) and list(loaded) == list(TORCH_KEYS)
    model = XorNet()
    model.load_state_dict(loaded)
    np.testing.assert_allclose(dynamic_forward(model), static.forward(), rtol=1e-6, atol=1e-7)


def test_the_in_out_layout_graph_takes_transposed_weights_both_ways(tmp_path):
    model = trained_dynamic()
    state = model.state_dict()
    path = tmp_path / "for_tf.npz"
    # nn.Linear (out, in) -> the compare graph's (in, out), renamed to its variables
    torch.save({"w1": state["fc1.weight"].t(), "b1": state["fc1.bias"],
                "w2": state["fc2.weight"].t(), "b2": state["fc2.bias"]}, path)
    static = XorStatic(xor_weights(9, "float32"), lr=0.5, dtype="float32")
    with static.graph.as_default():
        saver = tf.train.Saver()
    saver.restore(static.sess, path)
    with torch.no_grad():
        loss = torch.nn.functional.mse_loss(model(torch.from_numpy(X)), torch.from_numpy(Y))
    static_loss = static.sess.run(static.loss, {static.x: X, static.y: Y})
    np.testing.assert_allclose(static_loss, loss.item(), rtol=1e-5)

    for _ in range(20):
        static.step(X, Y)
    stored = torch.load(saver.save(static.sess, str(tmp_path / "tf.ckpt")))
    fresh = XorNet()
    fresh.load_state_dict({"fc1.weight": stored["w1"].t(), "fc1.bias": stored["b1"],
                           "fc2.weight": stored["w2"].t(), "fc2.bias": stored["b2"]})
    with torch.no_grad():
        back = torch.nn.functional.mse_loss(fresh(torch.from_numpy(X)), torch.from_numpy(Y))
    np.testing.assert_allclose(back.item(), static.sess.run(static.loss, {static.x: X,
                                                                          static.y: Y}),
                               rtol=1e-5)


# ---- errors change nothing -------------------------------------------------------------------


def _assert_unchanged(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> None:
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)


def test_a_missing_key_is_named_and_nothing_is_restored(tmp_path):
    state = dict(trained_dynamic().state_dict())
    del state["fc2.bias"]
    torch.save(state, tmp_path / "partial.pt")
    static = TorchLayoutXor()
    before = static.values()
    with pytest.raises(CheckpointError, match="'fc2.bias' not found in checkpoint") as info:
        static.saver.restore(static.sess, str(tmp_path / "partial.pt"))
    assert info.value.key == "fc2.bias"
    _assert_unchanged(before, static.values())


def test_a_wrong_shape_is_named_with_both_shapes_and_nothing_is_restored(tmp_path):
    state = dict(trained_dynamic().state_dict())
    state["fc2.weight"] = state["fc2.weight"].t()  # forgot the layout change: (5, 2)
    torch.save(state, tmp_path / "transposed.pt")
    static = TorchLayoutXor()
    before = static.values()
    with pytest.raises(CheckpointError, match=r"'fc2.weight': shape \[5, 2\] .* shape \[2, 5\]"):
        static.saver.restore(static.sess, str(tmp_path / "transposed.pt"))
    _assert_unchanged(before, static.values())


def test_a_wrong_dtype_is_named_and_nothing_is_restored(tmp_path):
    state = {k: v.double() for k, v in trained_dynamic().state_dict().items()}
    torch.save(state, tmp_path / "double.pt")
    static = TorchLayoutXor()
    before = static.values()
    with pytest.raises(CheckpointError, match="'fc1.weight': dtype float64 .* float32"):
        static.saver.restore(static.sess, str(tmp_path / "double.pt"))
    _assert_unchanged(before, static.values())


def _cut_in_half(path: str) -> None:
    with open(path, "rb") as handle:
        data = handle.read()
    with open(path, "wb") as handle:
        handle.write(data[: len(data) // 2])


def test_a_truncated_file_names_the_missing_parameters_in_both_modes(tmp_path):
    static = TorchLayoutXor()
    path = static.saver.save(static.sess, str(tmp_path / "cut.ckpt"))
    _cut_in_half(path)
    before = static.values()
    with pytest.raises(CheckpointError, match="truncated .*missing parameter.*'fc2.bias'") as info:
        static.saver.restore(static.sess, path)
    assert info.value.key in TORCH_KEYS
    _assert_unchanged(before, static.values())
    with pytest.raises(CheckpointError, match="truncated .*'fc2.bias'"):
        torch.load(path)


def test_a_file_that_is_no_checkpoint_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(CheckpointError, match="not a tapeflow checkpoint"):
        torch.load(junk)
    static = TorchLayoutXor()
    with pytest.raises(ValueError, match="not a valid checkpoint"):
        static.saver.restore(static.sess, str(tmp_path / "nowhere.ckpt"))
    with pytest.raises(ValueError, match="None"):
        static.saver.restore(static.sess, None)
    with pytest.raises(FileNotFoundError):
        torch.load(tmp_path / "nowhere.pt")


def test_a_mismatched_state_dict_leaves_the_dynamic_model_unchanged(tmp_path):
    state = dict(trained_dynamic().state_dict())
    state["fc2.bias"] = torch.zeros(3)  # the LAST parameter is wrong
    torch.save(state, tmp_path / "bad.pt")
    model = XorNet()
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError, match="size mismatch for fc2.bias"):
        model.load_state_dict(torch.load(tmp_path / "bad.pt"))
    _assert_unchanged(before, {k: v.numpy() for k, v in model.state_dict().items()})


# ---- dynamic save / load -----------------------------------------------------------------------


def test_dynamic_save_load_round_trips_a_training_checkpoint(tmp_path):
    model = trained_dynamic(5)
    param = torch.nn.Parameter(torch.ones(2))
    checkpoint = {"epoch": 7, "model": model.state_dict(), "loss": 0.25, "note": "xor",
                  "shape": (2, 3), "history": [1.0, None, True], "param": param,
                  "mask": np.array([True, False]), "grad": torch.ones(2, requires_grad=True),
                  "counts": {1: torch.tensor([1, 2])}}
    torch.save(checkpoint, tmp_path / "all.pt")
    back = torch.load(tmp_path / "all.pt", map_location="cpu", weights_only=True)
    assert back["epoch"] == 7 and back["loss"] == 0.25 and back["note"] == "xor"
    assert back["shape"] == (2, 3) and back["history"] == [1.0, None, True]
    assert isinstance(back["model"], OrderedDict) and list(back["model"]) == list(TORCH_KEYS)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(back["model"][key].numpy(), value.numpy())
        assert not np.shares_memory(back["model"][key].numpy(), value.numpy())
    assert isinstance(back["param"], torch.nn.Parameter) and back["param"].requires_grad
    assert back["grad"].requires_grad and back["counts"][1].dtype == torch.int64
    np.testing.assert_array_equal(back["mask"], [True, False])


def test_dynamic_save_refuses_what_it_cannot_store(tmp_path):
    with pytest.raises(TypeError, match="cannot store a object at 'model.extra'"):
        torch.save({"model": {"extra": object()}}, tmp_path / "x.pt")
    with pytest.raises(TypeError, match="XorNet at '<root>'.*state_dict"):
        torch.save(XorNet(), tmp_path / "x.pt")
    with pytest.raises(TypeError, match="file path .* or a binary file object"):
        torch.save({}, 3)  # (open binary files are accepted: dynamic/file_objects.py)
    assert not (tmp_path / "x.pt").exists()


def test_map_location_cuda_without_a_gpu_says_how_to_load_on_the_cpu(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    torch.save({"w": torch.ones(1)}, tmp_path / "w.pt")
    with pytest.raises(RuntimeError, match="map_location=torch.device\\('cpu'\\)"):
        torch.load(tmp_path / "w.pt", map_location="cuda")


def test_numpy_reads_every_checkpoint_and_plain_npz_files_load(tmp_path):
    torch.save(trained_dynamic(3).state_dict(), tmp_path / "m.pt")
    with np.load(tmp_path / "m.pt") as npz:
        assert npz["fc1.weight"].shape == (5, 2)
    np.savez(tmp_path / "plain.npz", w1=np.ones((2, 5), np.float32),
             b1=np.zeros(5, np.float32), w2=np.ones((5, 2), np.float32),
             b2=np.zeros(2, np.float32))
    static = XorStatic(xor_weights(0, "float32"), lr=0.5, dtype="float32")
    with static.graph.as_default():
        saver = tf.train.Saver()
    saver.restore(static.sess, str(tmp_path / "plain.npz"))
    w1 = static.graph.get_tensor_by_name("w1:0")
    np.testing.assert_array_equal(static.sess.run(w1), np.ones((2, 5)))


# ---- static Saver ------------------------------------------------------------------------------


def test_saver_keeps_the_latest_checkpoints_and_finds_the_newest(tmp_path):
    with tf.Graph().as_default():
        step = tf.train.get_or_create_global_step()
        w = tf.Variable(np.zeros(3, np.float32), name="dense/kernel")
        bump = tf.group(w.assign_add(np.ones(3, np.float32)), step.assign_add(1))
        saver = tf.train.Saver(max_to_keep=2)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            prefix = str(tmp_path / "model.ckpt")
            paths = []
            for _ in range(3):
                sess.run(bump)
                paths.append(saver.save(sess, prefix, global_step=step))
            assert paths[-1] == prefix + "-3"
            assert not os.path.exists(paths[0]) and saver.last_checkpoints == paths[1:]
            assert tf.train.latest_checkpoint(str(tmp_path)) == paths[-1]
            assert tf.train.list_variables(str(tmp_path)) == [("dense/kernel", [3]),
                                                              ("global_step", [])]
            np.testing.assert_array_equal(tf.train.load_variable(paths[1], "dense/kernel"),
                                          [2, 2, 2])
            saver.restore(sess, paths[1])
            assert sess.run(step) == 2
            np.testing.assert_array_equal(sess.run(w), [2, 2, 2])


def test_saver_var_list_checks():
    with tf.Graph().as_default():
        a = tf.Variable(1.0, name="a")
        with pytest.raises(TypeError, match="is not a Variable"):
            tf.train.Saver([a, a * 2])
        with pytest.raises(ValueError, match="same name: a"):
            tf.train.Saver([a, a])
        with pytest.raises(TypeError, match="dict from checkpoint key"):
            tf.train.Saver(a)
    with tf.Graph().as_default():
        with pytest.raises(ValueError, match="No variables to save"):
            tf.train.Saver()
        assert tf.train.Saver(allow_empty=True).last_checkpoints == []
