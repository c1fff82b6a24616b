"""tapeflow.static: define-and-run graphs in the style of TensorFlow 1.x.

``import tapeflow.static as tf`` gives TF1's names for this subset: build a graph of
placeholders, Variables and ops, then ``Session.run`` the part of it that fetches need.

Example:
    >>> import tapeflow.static as tf
    >>> with tf.Graph().as_default():
    ...     x = tf.placeholder(tf.float32, [None, 2], name="x")
    ...     w = tf.Variable(tf.ones([2, 1]), name="w")
    ...     y = tf.matmul(x, w)
    ...     with tf.Session() as sess:
    ...         sess.run(tf.global_variables_initializer())
    ...         print(sess.run(y, {x: [[1.0, 2.0]]}))
    [[3.]]
"""

from __future__ import annotations

from ..runtime.dtypes import (
    DType,
    as_dtype,
    bool_,
    float16,
    float32,
    float64,
    int8,
    int16,
    int32,
    int64,
    uint8,
)
from . import errors, losses, nn, train
from . import numerics as debugging  # tf.debugging.enable_check_numerics()
from .compiler import CompileOptions
from .compiler import compile as build_program  # tf.build_program: the compiler's entry
from .control_flow import cond, while_loop
from .functional_ops import foldl, scan
from .gradients import gradients
from .graph import Graph, get_default_graph, reset_default_graph
from .jit.function import (  # the bridge (DESIGN.md)
    RetracingWarning,
    TracedFunction,
    function,
    trace,
)
from .jit.tracing import TracingError
from .onnx.export import OnnxExportError, export_onnx  # interop (needs the onnx extra)
from .ops import (
    abs,
    add,
    add_n,
    argmax,
    argmin,
    cast,
    clip_by_value,
    concat,
    control_dependencies,
    divide,
    equal,
    exp,
    expand_dims,
    gather,
    greater,
    greater_equal,
    group,
    identity,
    less,
    less_equal,
    log,
    logical_and,
    logical_not,
    logical_or,
    matmul,
    maximum,
    minimum,
    multiply,
    name_scope,
    negative,
    no_op,
    not_equal,
    one_hot,
    pow,
    reduce_max,
    reduce_mean,
    reduce_min,
    reduce_sum,
    reshape,
    sigmoid,
    sign,
    split,
    sqrt,
    square,
    squeeze,
    stack,
    stop_gradient,
    subtract,
    tanh,
    transpose,
    truediv,
    where,
)
from .session import InteractiveSession, Session, get_default_session
from .sources import (
    constant,
    convert_to_tensor,
    fill,
    ones,
    ones_like,
    placeholder,
    random_normal,
    random_uniform,
    truncated_normal,
    zeros,
    zeros_like,
)
from .tensor import Dimension, Operation, Tensor, TensorShape
from .tensor_array import TensorArray
from .variables import (
    GraphKeys,
    Variable,
    add_to_collection,
    get_collection,
    global_variables,
    global_variables_initializer,
    local_variables_initializer,
    trainable_variables,
    variables_initializer,
)

bool = bool_  # noqa: A001 - TF1's name for the boolean dtype
double = float64
sub = subtract
mul = multiply
div = divide
initialize_all_variables = global_variables_initializer
newaxis = None


def set_random_seed(seed: int) -> None:
    """Sets the default graph's seed: random ops built afterwards draw reproducibly."""
    get_default_graph().seed = seed


__all__ = [
    "CompileOptions", "DType", "Dimension", "Graph", "GraphKeys", "InteractiveSession",
    "Operation", "Session", "Tensor", "TensorShape", "Variable", "abs", "add", "add_n",
    "add_to_collection", "argmax", "argmin", "as_dtype", "bool", "bool_", "build_program",
    "cast", "clip_by_value", "concat", "constant", "control_dependencies", "convert_to_tensor",
    "debugging", "div", "divide", "double", "equal", "errors", "exp", "expand_dims", "fill",
    "float16",
    "float32", "float64", "gather", "get_collection", "get_default_graph",
    "get_default_session", "global_variables", "global_variables_initializer", "gradients",
    "greater", "greater_equal", "group", "identity", "initialize_all_variables", "int16",
    "int32", "int64", "int8", "less", "less_equal", "local_variables_initializer", "log",
    "logical_and", "logical_not", "logical_or", "losses", "matmul", "maximum", "minimum", "mul",
    "multiply", "name_scope", "negative", "newaxis", "nn", "no_op", "not_equal", "one_hot",
    "ones", "ones_like", "placeholder", "pow", "random_normal", "random_uniform", "reduce_max",
    "reduce_mean", "reduce_min", "reduce_sum", "reset_default_graph", "reshape",
    "set_random_seed", "sigmoid", "sign", "split", "sqrt", "square", "squeeze", "stack",
    "stop_gradient", "sub", "subtract", "tanh", "train", "trainable_variables", "transpose",
    "truediv", "truncated_normal", "uint8", "variables_initializer", "where", "zeros",
    "zeros_like",
]
__all__ += ["RetracingWarning", "TracedFunction", "TracingError", "function", "trace"]  # the bridge
__all__ += ["OnnxExportError", "export_onnx"]  # interop

# variable sharing (tf.variable_scope, tf.get_variable) and the initializers
from .sharing import *  # noqa: E402, F403
from .sharing import __all__ as _scope_names  # noqa: E402

__all__ += [*_scope_names, "layers"]  # (tf.layers.dense builds on get_variable)

# API fidelity: more TF1 names (tf.sin, tf.range, tf.assign, tf.to_float...), the tf.math
# namespace, and a friendly error for well-known names tapeflow lacks
import sys as _sys  # noqa: E402
from types import SimpleNamespace as _Namespace  # noqa: E402

from . import layers, math  # noqa: E402
from .compat_ops import *  # noqa: E402, F403
from .compat_ops import __all__ as _compat_names  # noqa: E402

#: ``tf.compat.v1`` is this module, so code migrated to ``tensorflow.compat.v1`` runs too
compat = _Namespace(v1=_sys.modules[__name__])
__all__ += ["compat", "math", *(n for n in _compat_names if n not in __all__)]

from .activations import log_sigmoid  # noqa: E402  (tf.log_sigmoid, as tf.math.log_sigmoid)

__all__ += ["log_sigmoid"]

# issue 21: TF1 plumbing (tf.shape, ConfigProto, tf.summary no-ops, tf.metrics)
from . import metrics  # noqa: E402
from .plumbing import ConfigProto, GPUOptions, shape, summary  # noqa: E402
from .variables import local_variables  # noqa: E402

__all__ += ["ConfigProto", "GPUOptions", "local_variables", "metrics", "shape", "summary"]
# structured control flow (static/control_flow.py, functional_ops.py)
__all__ += ["TensorArray", "cond", "foldl", "scan", "while_loop"]


def __getattr__(name: str) -> object:
    """``tf.contrib`` and other names tapeflow lacks: an error naming the closest ones."""
    from .unsupported import miss

    raise miss("tf", name)
