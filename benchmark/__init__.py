"""The engine's data side: the synthetic world, dataset stores and roles, prediction files,
streaming evaluation and the results format (docs/design.md)."""
