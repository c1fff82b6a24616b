"""The static compiler: a graph IR and its feed specs in, a runnable Program out.

Nothing here knows TF1's API: it reads ``graphs.ir`` graphs and the runtime's op registry,
specialises the graph to the fed shapes, runs the passes, plans memory into one arena and
binds the executor's flat schedule. ``compile`` is the one entry point; ``CompileOptions``
holds every switch; ``PASSES`` is the pass list.

Example:
    >>> from tapeflow.static.compiler import CompileOptions, compile
    >>> # program = compile(graph, {x_id: Spec((4, 2), float32)}, CompileOptions())
"""

from .interpreter import NumericsError
from .options import DEFAULT_MAX_CACHED_PROGRAMS, CompileOptions, UnknownPassError
from .pipeline import PASSES, CompiledProgram, Program, compile, inspect_plan

__all__ = ["DEFAULT_MAX_CACHED_PROGRAMS", "PASSES", "CompileOptions", "CompiledProgram",
           "NumericsError", "Program", "UnknownPassError", "compile", "inspect_plan"]
