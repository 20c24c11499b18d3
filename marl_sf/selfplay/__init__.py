"""Self-play: opponent pools, matchmaking, Elo ratings, scripted policies and tournaments.

Importing it registers the built-in scripted policies (``random``, ``connect_four_lookahead``) and the search
players (``alphabeta:<depth>``, ``perfect``, ``openspiel_mcts:<simulations>``).
"""

from marl_sf.selfplay import baselines as _baselines  # noqa: F401  (registers the scripted baselines)
from marl_sf.selfplay import search_players as _search_players  # noqa: F401  (registers the search players)
