"""Many experiments from one command: ``python -m marl_sf.launcher.run --run=<module> --backend=...``
(docs/experiments.md). A run module defines ``RUN_DESCRIPTION`` with Sample Factory's shapes
(``marl_sf.launcher.run_description``)."""
