"""Self-play building blocks: Elo ratings and the scripted-policy registry."""
