"""Self-play: opponent pools, matchmaking, Elo ratings, scripted policies and tournaments.

Importing it registers the built-in scripted policies (``random``, ``connect_four_lookahead``).
"""

from marl_sf.selfplay import baselines as _baselines  # noqa: F401  (registers the scripted baselines)
