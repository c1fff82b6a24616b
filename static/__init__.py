"""tapeflow.static."""
