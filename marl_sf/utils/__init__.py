"""Small shared helpers: attribute dictionaries and atomic file writes."""
