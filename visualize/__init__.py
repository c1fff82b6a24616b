"""tapeflow.visualize."""
