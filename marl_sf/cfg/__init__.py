"""Configuration: command-line options, parsing, saving and resuming (Sample Factory's ``cfg`` package)."""
