"""API fidelity: PyTorch's and TF1's names, signatures and errors, and the generated table."""

from __future__ import annotations

import importlib.util
import inspect
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import tapeflow.dynamic as torch
import tapeflow.static as tf
from tapeflow.dynamic import unsupported as torch_missing
from tapeflow.runtime.missing import UnsupportedNameError
from tapeflow.static import unsupported as tf_missing

ROOT = Path(__file__).resolve().parents[2]

# PyTorch's documented parameter names, in order, for the function list
SIGNATURES = {
    "tanh": "input out", "sigmoid": "input out", "relu": "input", "exp": "input out",
    "log": "input out", "sqrt": "input out", "abs": "input out", "neg": "input out",
    "pow": "input exponent out", "clamp": "input min max out", "maximum": "input other out",
    "minimum": "input other out", "where": "condition input other out",
    "matmul": "input other out", "mm": "input mat2 out",
    "sum": "input dim keepdim dtype out", "mean": "input dim keepdim dtype out",
    "max": "input dim keepdim out", "min": "input dim keepdim out",
    "argmax": "input dim keepdim", "argmin": "input dim keepdim",
    "softmax": "input dim dtype", "log_softmax": "input dim dtype",
    "reshape": "input shape", "transpose": "input dim0 dim1", "permute": "input dims",
    "squeeze": "input dim", "unsqueeze": "input dim", "flatten": "input start_dim end_dim",
    "split": "tensor split_size_or_sections dim", "chunk": "input chunks dim",
    "cat": "tensors dim out", "stack": "tensors dim out",
    "eq": "input other out", "gt": "input other out", "lt": "input other out",
    "ge": "input other out", "le": "input other out", "ne": "input other out",
    "allclose": "input other rtol atol equal_nan", "equal": "input other", "numel": "input",
    "is_tensor": "obj", "linspace": "start end steps out dtype device requires_grad",
    "sin": "input out", "cos": "input out",
}
KEYWORD_ONLY = {"out", "dtype"}


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_functions_have_pytorch_parameter_names(name):
    params = inspect.signature(getattr(torch, name)).parameters
    assert list(params) == SIGNATURES[name].split(), name
    for p in params.values():
        if p.name in KEYWORD_ONLY and name not in ("softmax", "log_softmax", "linspace"):
            assert p.kind is p.KEYWORD_ONLY and p.default is None, (name, p.name)


def test_zeros_ones_full_like_keep_input_shape_and_dtype():
    x = torch.ones(2, 3, dtype=torch.float64)
    assert torch.zeros_like(x).dtype is torch.float64
    assert torch.ones_like(x).sum().item() == 6
    assert torch.full_like(x, 7).tolist() == [[7.0] * 3] * 2


UNARY = ["tanh", "sigmoid", "relu", "exp", "log", "sqrt", "abs", "neg", "sin", "cos"]


@pytest.mark.parametrize("name", UNARY)
def test_unary_function_is_the_method(name):
    x = torch.tensor([0.5, 1.5, 2.5], requires_grad=True)
    f, m = getattr(torch, name)(x), getattr(x, name)()
    assert f.tolist() == m.tolist()
    assert f.grad_fn.name() == m.grad_fn.name()


@pytest.mark.parametrize("name", ["maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge",
                                  "matmul", "pow"])
def test_binary_function_is_the_method(name):
    a = torch.tensor([[1.0, 4.0], [3.0, 2.0]])
    b = torch.tensor([[2.0, 2.0], [3.0, 1.0]])
    assert getattr(torch, name)(a, b).tolist() == getattr(a, name)(b).tolist()


def test_sin_and_cos_gradients_come_from_the_registry():
    x = torch.tensor([0.0, 1.0, 2.0], requires_grad=True)
    (torch.sin(x) + torch.cos(x)).sum().backward()
    assert np.allclose(x.grad.numpy(), np.cos([0.0, 1, 2]) - np.sin([0.0, 1, 2]), atol=1e-6)


def test_max_min_overloads():
    x = torch.tensor([[1.0, 5.0], [3.0, 2.0]])
    assert torch.max(x).item() == 5.0
    values, indices = torch.max(x, 1)
    assert values.tolist() == [5.0, 3.0] and indices.tolist() == [1, 0]
    assert torch.max(x, dim=0, keepdim=True).values.shape == torch.Size([1, 2])
    assert torch.min(x, 1).indices.tolist() == [0, 1]
    other = torch.full((2, 2), 2.5)
    assert torch.max(x, other).tolist() == [[2.5, 5.0], [3.0, 2.5]]
    assert torch.min(x, other).tolist() == [[1.0, 2.5], [2.5, 2.0]]
    assert torch.argmax(x).item() == 1 and torch.argmax(x, dim=1, keepdim=True).shape == (2, 1)


def test_out_writes_into_the_given_tensor():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    out = torch.empty(2, 2)
    ptr = out.data_ptr()
    assert torch.exp(x, out=out) is out and out.data_ptr() == ptr
    assert np.allclose(out.numpy(), np.exp(x.numpy()))
    values, indices = torch.empty(2), torch.zeros(2, dtype=torch.int64)
    result = torch.max(x, 1, out=(values, indices))
    assert result.values is values and indices.tolist() == [1, 1]
    assert torch.sum(x, 0, out=torch.empty(2)).tolist() == [4.0, 6.0]
    assert torch.cat([x, x], out=torch.empty(4, 2)).shape == (4, 2)
    # an int result may go into a float out; a float result may not go into an int out
    assert torch.eq(x, 1.0, out=torch.empty(2, 2)).tolist() == [[1.0, 0.0], [0.0, 0.0]]
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired "
                                           "output type Long"):
        torch.exp(x, out=torch.zeros(2, 2, dtype=torch.int64))


def test_out_resizes_like_pytorch():
    x = torch.ones(3)
    empty = torch.empty(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.exp(x, out=empty).shape == (3,)  # zero elements: resized silently
    with pytest.warns(UserWarning, match=r"resized since it had shape \[2\]"):
        assert torch.exp(x, out=torch.empty(2)).shape == (3,)


def test_out_refuses_autograd():
    w = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="out=... arguments don't support automatic "
                                           "differentiation"):
        torch.tanh(w, out=torch.empty(2))
    with torch.no_grad():
        assert torch.tanh(w, out=torch.empty(2)).requires_grad is False


def test_argument_errors_follow_pytorch():
    with pytest.raises(TypeError, match=r"tanh\(\): argument 'input' \(position 1\) must be "
                                        "Tensor, not float"):
        torch.tanh(1.0)
    with pytest.raises(NotImplementedError, match="torch.where"):
        torch.where(torch.ones(2) > 0)
    with pytest.raises(RuntimeError, match="At least one of 'min' or 'max'"):
        torch.clamp(torch.ones(2))
    assert torch.pow(2, torch.tensor([1.0, 3.0])).tolist() == [2.0, 8.0]
    assert torch.where(torch.tensor([True, False]), torch.ones(2), 0.0).tolist() == [1.0, 0.0]


def test_shape_functions():
    x = torch.arange(24.0).reshape(2, 3, 4)
    assert torch.reshape(x, (6, 4)).shape == (6, 4)
    assert torch.transpose(x, 0, 2).shape == (4, 3, 2)
    assert torch.permute(x, (2, 0, 1)).shape == (4, 2, 3)
    assert torch.flatten(x, 1).shape == (2, 12) and torch.flatten(x).shape == (24,)
    assert torch.squeeze(torch.unsqueeze(x, 1), 1).shape == (2, 3, 4)
    assert [t.shape[2] for t in torch.split(x, [1, 3], dim=2)] == [1, 3]
    assert len(torch.chunk(x, 2, 1)) == 2
    assert torch.stack([x, x], dim=1).shape == (2, 2, 3, 4)
    assert torch.numel(x) == 24 and torch.is_tensor(x) and not torch.is_tensor(x.numpy())
    assert torch.equal(x, x.clone()) and torch.allclose(x, x * (1 + 1e-6))
    assert not torch.allclose(x, x + 1e-3)
    assert torch.index_select(x, 1, torch.tensor([2, 0]))[0, :, 0].tolist() == [8.0, 0.0]
    assert torch.masked_select(x[0, 0], x[0, 0] > 1).tolist() == [2.0, 3.0]


def test_linspace_matches_numpy_and_pytorch_defaults():
    x = torch.linspace(-math.pi, math.pi, 2000)
    assert x.dtype is torch.float32 and x.shape == (2000,)
    assert np.allclose(x.numpy(), np.linspace(-np.pi, np.pi, 2000), atol=1e-6)
    assert torch.linspace(0, 1, steps=1).tolist() == [0.0]
    assert torch.linspace(0, 1, 3, dtype=torch.float64).dtype is torch.float64


def test_rmsprop_matches_its_formula():
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = torch.optim.RMSprop([w], lr=0.01, alpha=0.9, momentum=0.5, centered=True)
    ref_w, sq, avg_g, buf = np.array([1.0, -2.0]), np.zeros(2), np.zeros(2), np.zeros(2)
    for _ in range(3):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
        g = 2 * ref_w
        sq = 0.9 * sq + 0.1 * g * g
        avg_g = 0.9 * avg_g + 0.1 * g
        buf = 0.5 * buf + g / (np.sqrt(sq - avg_g ** 2) + 1e-8)
        ref_w = ref_w - 0.01 * buf
    assert np.allclose(w.detach().numpy(), ref_w, rtol=1e-5)


# ---- static names --------------------------------------------------------------------------


def test_tf_math_names_are_the_tf_functions():
    only_in_math = {"reduce_std", "reduce_variance"}  # TF1 spells these tf.math.* only
    for name in set(tf.math.__all__) - only_in_math:
        same = getattr(tf, name, None) or getattr(tf.nn, name)
        assert getattr(tf.math, name) is same, name
    assert not any(hasattr(tf, name) for name in only_in_math)


def test_extra_tf_names_run():
    with tf.Graph().as_default():
        v = tf.Variable(1.0)
        x = tf.linspace(0.0, 1.0, 5)
        fetches = [tf.range(3), tf.range(1.0, 2.0, 0.5), x, tf.sin(x), tf.math.cos(x),
                   tf.squared_difference(x, 1.0), tf.reduce_any(x > 0.9),
                   tf.reduce_all(x > 0.1, axis=0), tf.to_float(tf.range(2)),
                   tf.math.reciprocal(x + 1.0)]
        bump = tf.assign_add(v, 2.0)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            r, rf, lin, s, c, sq, anyv, allv, tofloat, rec = sess.run(fetches)
            sess.run(bump)
            assert sess.run(v) == 3.0
    grid = np.linspace(0, 1, 5)
    assert r.dtype == np.int32 and r.tolist() == [0, 1, 2] and rf.tolist() == [1.0, 1.5]
    assert np.allclose(lin, grid) and np.allclose(s, np.sin(grid)) and np.allclose(c, np.cos(grid))
    assert np.allclose(sq, (grid - 1) ** 2) and np.allclose(rec, 1 / (grid + 1))
    assert bool(anyv) and not bool(allv) and tofloat.dtype == np.float32


def test_tf_compat_v1_is_tf():
    assert tf.compat.v1 is tf and tf.compat.v1.placeholder is tf.placeholder
    tf.compat.v1.disable_v2_behavior()
    tf.disable_eager_execution()


def test_static_and_dynamic_sin_agree():
    grid = np.linspace(-3, 3, 7).astype(np.float32)
    with tf.Graph().as_default():
        static = tf.Session().run(tf.sin(tf.constant(grid)))
    assert np.array_equal(static, torch.sin(torch.from_numpy(grid)).numpy())


# ---- friendly misses ------------------------------------------------------------------------

NAMESPACES = {"torch": torch, "torch.nn": torch.nn, "torch.nn.functional": torch.nn.functional,
              "torch.optim": torch.optim, "tf": tf, "tf.nn": tf.nn, "tf.train": tf.train,
              "tf.losses": tf.losses, "tf.math": tf.math, "tf.layers": tf.layers,
              "tf.nn.rnn_cell": tf.nn.rnn_cell}


@pytest.mark.parametrize("spelled,module", sorted(NAMESPACES.items()))
def test_every_listed_missing_name_is_really_missing(spelled, module):
    table = {**torch_missing.MISSING, **tf_missing.MISSING}
    for name in table[spelled]:
        assert not hasattr(module, name), f"{spelled}.{name} is implemented: unlist it"
        with pytest.raises(UnsupportedNameError, match=rf"does not implement {spelled}\.{name}\b"):
            getattr(module, name)


@pytest.mark.parametrize("expr,closest", [
    ("torch.conv2d", None), ("torch.nn.Conv2d", None), ("torch.nn.BatchNorm2d", None),
    ("torch.nn.functional.silu", "torch.nn.functional.sigmoid"),
    ("torch.optim.Adamax", "torch.optim.Adam"), ("tf.contrib", None), ("tf.layers.conv2d", None),
    ("tf.nn.conv2d", None), ("tf.nn.fused_batch_norm", None),
    ("tf.train.AdadeltaOptimizer", "tf.train.AdamOptimizer"), ("tf.keras", None),
    ("tf.losses.log_loss", None), ("tf.math.floor", None),
])
def test_well_known_missing_names_raise_a_friendly_error(expr, closest):
    spelled, name = expr.rsplit(".", 1)
    with pytest.raises(NotImplementedError) as info:
        getattr(NAMESPACES[spelled], name)
    message = str(info.value)
    assert isinstance(info.value, AttributeError)
    assert f"does not implement {expr}" in message and "docs/compatibility.md" in message
    if closest:
        assert closest in message


def test_from_import_of_a_missing_name_keeps_the_message():
    with pytest.raises(ImportError, match=r"does not implement torch\.nn\.Conv2d.*"
                                          r"torch\.nn\.Linear") as info:
        from tapeflow.dynamic.nn import Conv2d  # noqa: F401
    assert isinstance(info.value, NotImplementedError)
    with pytest.raises(ImportError, match="does not implement tf.contrib"):
        from tapeflow.static import contrib  # noqa: F401
    with pytest.raises(ImportError, match="cannot import name 'Conv2dd'"):
        from tapeflow.dynamic.nn import Conv2dd  # noqa: F401
    from tapeflow.dynamic.nn import Linear  # noqa: F401  (a supported name still imports)


def test_typos_get_suggestions_and_dunders_stay_plain():
    with pytest.raises(AttributeError, match=r"closest supported names: torch\.tanh") as info:
        torch.tnah  # noqa: B018
    assert not isinstance(info.value, NotImplementedError)
    with pytest.raises(AttributeError, match="tf.reduce_sum"):
        tf.reduce_summ  # noqa: B018
    for module in NAMESPACES.values():
        assert not hasattr(module, "__wrapped__")
        with pytest.raises(AttributeError) as info:
            module.__definitely_not_here__  # noqa: B018
        assert "closest" not in str(info.value)
    assert hasattr(torch, "tanh") and not hasattr(torch, "conv2d")


# ---- the generated table ----------------------------------------------------------------------


def _generator():
    spec = importlib.util.spec_from_file_location("generate_compat",
                                                  ROOT / "docs" / "generate_compat.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compatibility_table_is_up_to_date():
    page = _generator().render()
    committed = (ROOT / "docs" / "compatibility.md").read_text()
    assert committed == page, ("docs/compatibility.md is out of date: run "
                               "python docs/generate_compat.py")


def test_compatibility_table_lists_names_and_notes():
    page = (ROOT / "docs" / "compatibility.md").read_text()
    for name in ["torch.tanh", "torch.Tensor.backward", "torch.nn.Linear",
                 "torch.optim.RMSprop", "tf.placeholder", "tf.math.reduce_sum",
                 "tf.nn.softmax_cross_entropy_with_logits", "tf.train.GradientDescentOptimizer",
                 "tf.losses.mean_squared_error", "tf.Session.run"]:
        assert f"| `{name}` |" in page, name
    assert "sees its value from the start of the run" in page
    assert "keeps the input's float dtype" in page
    assert "| `torch.conv2d` |" in page and "| `tf.contrib` |" in page


def test_docstring_examples_run():
    import doctest
    import importlib

    attempted = 0
    for name in ["tapeflow.runtime.missing", "tapeflow.dynamic.compat",
                 "tapeflow.dynamic.unsupported", "tapeflow.static.compat_ops",
                 "tapeflow.static.math", "tapeflow.static.unsupported"]:
        result = doctest.testmod(importlib.import_module(name))
        assert result.failed == 0, name
        attempted += result.attempted
    result = doctest.testmod(_generator())
    assert result.failed == 0 and attempted + result.attempted > 15
