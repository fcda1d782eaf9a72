"""Day 0: what `bootstrap/` creates so CI can run the main stack keylessly (docs/day0.md)."""
