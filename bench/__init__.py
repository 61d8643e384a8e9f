"""`make bench`: the canonical loop, the engine measured against it, and the tables."""
