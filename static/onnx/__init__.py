"""ONNX export of static graphs (needs the ``onnx`` extra)."""
