"""``tf.train``: optimizers whose updates are graph nodes (registry ops plus assigns).

``minimize`` = ``compute_gradients`` (backward nodes, via :func:`gradients`) then
``apply_gradients`` (update nodes, role "update"), returning one op that runs every assign.
The update formulas are TF1's rules in ``runtime/optim_rules.py`` (beside PyTorch's); this
module keeps what is TF1's own: slot variables, ``global_step`` and the assigns.
Slots (momentum accumulators, Adam moments) are non-trainable Variables the optimizer makes,
named after their variable (``W/Momentum``, ``W/Adam``, ``W/Adam_1``), so
``global_variables_initializer()`` called after ``minimize`` initialises them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..runtime import dtypes as dt
from ..runtime import optim_rules as rules
from .gradients import gradients
from .graph import Graph, get_default_graph
from .ops import cast, multiply, subtract
from .saver import Saver, latest_checkpoint, list_variables, load_variable  # noqa: F401
from .sources import call
from .tensor import Operation, Tensor
from .variables import GraphKeys, Variable, trainable_variables


class Optimizer:
    """Base class: subclasses write ``_apply_dense`` (and optionally ``_finish``)."""

    def __init__(self, use_locking: bool, name: str) -> None:
        if not name:
            raise ValueError("Must specify the optimizer name")
        self._name = name
        self._slots: dict[tuple[int, str], Variable] = {}

    def get_name(self) -> str:
        return self._name

    def compute_gradients(self, loss: Tensor, var_list: Sequence[Variable] | None = None,
                          grad_loss: Any = None) -> list[tuple[Tensor | None, Variable]]:
        """(gradient, variable) pairs; the gradient is None where loss does not use it."""
        if not isinstance(loss, Tensor):
            raise TypeError(f"loss must be a Tensor, got {loss!r}")
        variables = list(var_list) if var_list is not None else trainable_variables(loss.graph)
        if not variables:
            raise ValueError("No variables to optimize.")
        grads = gradients(loss, variables, grad_ys=grad_loss)
        return list(zip(grads, variables, strict=True))

    def apply_gradients(self, grads_and_vars: Sequence[tuple[Any, Variable]],
                        global_step: Variable | None = None,
                        name: str | None = None) -> Operation:
        """One op that applies every (gradient, variable) update and bumps ``global_step``."""
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        if not pairs:
            names = [v.name for _, v in grads_and_vars]
            raise ValueError(f"No gradients provided for any variable, check your graph for "
                             f"ops that do not support gradients, between variables {names} "
                             "and the loss.")
        graph = pairs[0][1].graph
        updates: list[Tensor] = []
        with graph.as_default():
            for _, var in pairs:
                self._create_slots(graph, var)
            with graph.name_scope(name or self._name) as scope, graph.role("update"):
                self._prepare(graph, pairs[0][1].dtype)
                for grad, var in pairs:
                    with graph.name_scope(f"update_{var.op.name.replace('/', '_')}"):
                        updates.extend(self._apply_dense(grad, var))
                updates.extend(self._finish(graph))
                if global_step is not None:
                    updates.append(global_step.assign_add(1))
            targets = [u.node_id for u in updates]
            return graph.group(targets, scope[:-1], [u.op for u in updates], exact=True)

    def minimize(self, loss: Tensor, global_step: Variable | None = None,
                 var_list: Sequence[Variable] | None = None, name: str | None = None,
                 grad_loss: Any = None) -> Operation:
        """compute_gradients then apply_gradients: the training op.

        Example:
            >>> import tapeflow.static as tf
            >>> with tf.Graph().as_default():
            ...     w = tf.Variable(3.0)
            ...     step = tf.train.GradientDescentOptimizer(0.25).minimize(w * w)
            ...     with tf.Session() as sess:
            ...         sess.run(tf.global_variables_initializer())
            ...         sess.run(step)
            ...         print(sess.run(w))
            1.5
        """
        grads_and_vars = self.compute_gradients(loss, var_list=var_list, grad_loss=grad_loss)
        return self.apply_gradients(grads_and_vars, global_step=global_step, name=name)

    # ---- slots ------------------------------------------------------------------------

    def _filled_slot(self, graph: Graph, var: Variable, slot: str, suffix: str,
                    value: float = 0.0) -> None:
        """The slot variable ``<var>/<suffix>``, filled with ``value`` (zeros by default)."""
        if (var.node_id, slot) in self._slots:
            return
        with graph.name_scope(None), graph.name_scope(f"{var.op.name}/"):
            start = call("full", [], {"shape": var.shape.as_list(), "value": value,
                                      "dtype": var.dtype}, name="zeros" if value == 0 else "fill",
                         type_="Fill")
            self._slots[(var.node_id, slot)] = Variable(start, trainable=False, name=suffix)

    def get_slot(self, var: Variable, name: str) -> Variable | None:
        return self._slots.get((var.node_id, name))

    def get_slot_names(self) -> list[str]:
        return sorted({slot for _, slot in self._slots})

    def _create_slots(self, graph: Graph, var: Variable) -> None:
        """Makes this optimizer's slot variables for ``var`` (none by default)."""

    def _prepare(self, graph: Graph, dtype: dt.DType) -> None:
        """Builds values shared by every variable's update (none by default)."""

    def _apply_dense(self, grad: Tensor, var: Variable) -> list[Tensor]:
        raise NotImplementedError(f"{type(self).__name__} must define _apply_dense")

    def _finish(self, graph: Graph) -> list[Tensor]:
        return []


def _like(value: Any, var: Variable) -> Any:
    """A hyperparameter in the variable's dtype (tensors are cast; numbers stay numbers)."""
    if isinstance(value, Tensor) and value.dtype is not var.dtype:
        return cast(value, var.dtype)
    return value


class GradientDescentOptimizer(Optimizer):
    """var -= learning_rate * grad."""

    def __init__(self, learning_rate: Any, use_locking: bool = False,
                 name: str = "GradientDescent") -> None:
        super().__init__(use_locking, name)
        self._lr = learning_rate

    def _apply_dense(self, grad: Tensor, var: Variable) -> list[Tensor]:
        return [var.assign(subtract(var, rules.sgd_step(grad, _like(self._lr, var))))]


class MomentumOptimizer(Optimizer):
    """accum = momentum * accum + grad; var -= lr * accum (Nesterov: lr * (grad + m * accum))."""

    def __init__(self, learning_rate: Any, momentum: Any, use_locking: bool = False,
                 name: str = "Momentum", use_nesterov: bool = False) -> None:
        super().__init__(use_locking, name)
        self._lr = learning_rate
        self._momentum = momentum
        self._nesterov = use_nesterov

    def _create_slots(self, graph: Graph, var: Variable) -> None:
        self._filled_slot(graph, var, "momentum", self._name)

    def _apply_dense(self, grad: Tensor, var: Variable) -> list[Tensor]:
        accum = self._slots[(var.node_id, "momentum")]
        lr, momentum = _like(self._lr, var), _like(self._momentum, var)
        new_accum = rules.tf1_momentum(accum, grad, momentum)
        step = rules.sgd_direction(grad, new_accum, momentum, self._nesterov)
        return [accum.assign(new_accum), var.assign(subtract(var, rules.sgd_step(step, lr)))]


class AdamOptimizer(Optimizer):
    """Adam as TF1 writes it, with bias correction folded into the step size.

    lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t); m = b1 m + (1 - b1) g;
    v = b2 v + (1 - b2) g^2; var -= lr_t * m / (sqrt(v) + epsilon).
    """

    def __init__(self, learning_rate: Any = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-8, use_locking: bool = False, name: str = "Adam") -> None:
        super().__init__(use_locking, name)
        self._lr, self._beta1, self._beta2, self._epsilon = learning_rate, beta1, beta2, epsilon
        self._powers: dict[Graph, tuple[Variable, Variable]] = {}

    def _create_slots(self, graph: Graph, var: Variable) -> None:
        self._filled_slot(graph, var, "m", self._name)
        self._filled_slot(graph, var, "v", f"{self._name}_1")
        if graph not in self._powers:
            # beta1^t and beta2^t, kept as variables and multiplied by beta each step
            with graph.name_scope(None):
                self._powers[graph] = (
                    Variable(self._beta1, trainable=False, name="beta1_power", dtype=var.dtype),
                    Variable(self._beta2, trainable=False, name="beta2_power", dtype=var.dtype))

    def _prepare(self, graph: Graph, dtype: dt.DType) -> None:
        self._lr_t: dict[dt.DType, Tensor] = {}

    def _step_size(self, var: Variable) -> Tensor:
        if var.dtype not in self._lr_t:
            b1_power, b2_power = (_like(p, var) for p in self._powers[var.graph])
            self._lr_t[var.dtype] = rules.tf1_adam_step_size(_like(self._lr, var), b1_power,
                                                             b2_power)
        return self._lr_t[var.dtype]

    def _apply_dense(self, grad: Tensor, var: Variable) -> list[Tensor]:
        m, v = self._slots[(var.node_id, "m")], self._slots[(var.node_id, "v")]
        new_m, new_v = rules.adam_moments(m, v, grad, self._beta1, self._beta2)
        step = rules.tf1_adam_step(new_m, new_v, self._step_size(var), self._epsilon)
        return [m.assign(new_m), v.assign(new_v), var.assign(subtract(var, step))]

    def _finish(self, graph: Graph) -> list[Tensor]:
        b1_power, b2_power = self._powers[graph]
        return [b1_power.assign(multiply(b1_power, self._beta1)),
                b2_power.assign(multiply(b2_power, self._beta2))]


class RMSPropOptimizer(Optimizer):
    """RMSProp as TF1 writes it: ``ms = decay ms + (1 - decay) g^2`` (ms starts at ones);
    ``mom = momentum mom + lr g / sqrt(ms + epsilon)``; ``var -= mom``. Centered, the
    denominator is ``sqrt(ms - mg^2 + epsilon)`` with ``mg`` the running mean of g."""

    def __init__(self, learning_rate: Any, decay: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-10, use_locking: bool = False, centered: bool = False,
                 name: str = "RMSProp") -> None:
        super().__init__(use_locking, name)
        self._lr, self._decay, self._momentum = learning_rate, decay, momentum
        self._epsilon, self._centered = epsilon, centered

    def _create_slots(self, graph: Graph, var: Variable) -> None:
        self._filled_slot(graph, var, "rms", self._name, value=1.0)
        self._filled_slot(graph, var, "momentum", f"{self._name}_1")
        if self._centered:
            self._filled_slot(graph, var, "mg", f"{self._name}_2")

    def _apply_dense(self, grad: Tensor, var: Variable) -> list[Tensor]:
        ms, mom = self._slots[(var.node_id, "rms")], self._slots[(var.node_id, "momentum")]
        rho = self._decay
        new_ms = rules.running_average(ms, multiply(grad, grad), rho, 1.0 - rho)
        updates = [ms.assign(new_ms)]
        new_mg = None
        if self._centered:
            mg = self._slots[(var.node_id, "mg")]
            new_mg = rules.running_average(mg, grad, rho, 1.0 - rho)
            updates.append(mg.assign(new_mg))
        scaled = rules.tf1_rmsprop_step(grad, new_ms, new_mg, _like(self._lr, var),
                                        self._epsilon)
        new_mom = rules.running_average(mom, scaled, self._momentum, 1)
        return [*updates, mom.assign(new_mom), var.assign(subtract(var, new_mom))]


class AdagradOptimizer(Optimizer):
    """Adagrad as TF1 writes it: ``accum += g^2`` (from ``initial_accumulator_value``);
    ``var -= lr g / sqrt(accum)``."""

    def __init__(self, learning_rate: Any, initial_accumulator_value: float = 0.1,
                 use_locking: bool = False, name: str = "Adagrad") -> None:
        if initial_accumulator_value <= 0.0:
            raise ValueError(f"initial_accumulator_value must be positive: "
                             f"{initial_accumulator_value}")
        super().__init__(use_locking, name)
        self._lr, self._initial = learning_rate, initial_accumulator_value

    def _create_slots(self, graph: Graph, var: Variable) -> None:
        self._filled_slot(graph, var, "accumulator", self._name, value=self._initial)

    def _apply_dense(self, grad: Tensor, var: Variable) -> list[Tensor]:
        accum = self._slots[(var.node_id, "accumulator")]
        new_accum = rules.adagrad_sum(accum, grad)
        step = rules.tf1_adagrad_step(grad, new_accum, _like(self._lr, var))
        return [accum.assign(new_accum), var.assign(subtract(var, step))]


def create_global_step(graph: Graph | None = None) -> Variable:
    """A non-trainable int64 ``global_step`` variable (starts at 0)."""
    graph = graph or get_default_graph()
    if graph.get_collection(GraphKeys.GLOBAL_STEP):
        raise ValueError("'global_step' already exists.")
    with graph.as_default(), graph.name_scope(None):
        step = Variable(0, trainable=False, name="global_step", dtype=dt.int64,
                        collections=[GraphKeys.GLOBAL_VARIABLES, GraphKeys.GLOBAL_STEP])
    return step


def get_global_step(graph: Graph | None = None) -> Variable | None:
    found = (graph or get_default_graph()).get_collection(GraphKeys.GLOBAL_STEP)
    return found[0] if found else None


def get_or_create_global_step(graph: Graph | None = None) -> Variable:
    return get_global_step(graph) or create_global_step(graph)


__all__ = ["AdagradOptimizer", "AdamOptimizer", "GradientDescentOptimizer", "MomentumOptimizer",
           "Optimizer", "RMSPropOptimizer", "Saver",
           "create_global_step", "get_global_step", "get_or_create_global_step",
           "latest_checkpoint", "list_variables", "load_variable"]

def __getattr__(name: str) -> object:
    """``tf.train.<name>`` that tapeflow lacks: an error naming the closest supported names."""
    from .unsupported import miss

    raise miss("tf.train", name)


from .plumbing import exponential_decay  # noqa: E402  (issue 21)

__all__ += ["exponential_decay"]
