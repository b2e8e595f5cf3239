"""Synthetic world: rain fields, warming, observed forward model and simulator (SCIENCE.md 3-6)."""
