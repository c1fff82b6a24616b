"""tapeflow.dynamic."""
