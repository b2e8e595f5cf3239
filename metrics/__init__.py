"""Metrics: pure kernels, a registry, and streaming sufficient statistics (DESIGN.md)."""
