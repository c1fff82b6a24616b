"""The bridge: PyTorch-style code traced into a static graph (``tf.function``, ``trace``).

The only part of tapeflow that imports ``dynamic/``; it uses that package's public hooks.
"""
