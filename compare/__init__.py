"""tapeflow.compare."""
