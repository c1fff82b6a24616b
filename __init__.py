"""tapeflow: one model, two graphs.

The same workloads run in two styles over one tensor runtime:

* ``tapeflow.static``  -- TensorFlow-1 style: placeholders, Variables, ``Session.run``.
* ``tapeflow.dynamic`` -- PyTorch style: eager tensors, a tape, ``loss.backward()``.

Both take every op's kernel, shape rule and gradient rule from ``tapeflow.runtime``.
"""

__version__ = "0.1.0"
