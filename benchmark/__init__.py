"""TailShift core: schema, synthetic world, datasets, predictions, evaluation, results, CLI."""

__version__ = "0.1.0"
