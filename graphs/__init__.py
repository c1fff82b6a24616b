"""tapeflow.graphs."""
