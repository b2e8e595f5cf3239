"""Synthetic world: rain fields, warming, observed forward model and simulator (docs/world.md)."""
