"""TailShift: a benchmark for out-of-distribution precipitation retrieval.

One import namespace, ``tailshift``, in four layers; every import points down (docs/design.md):

* **core** -- this package itself (folder ``core/``): names (:mod:`tailshift.schema`), errors
  (:mod:`tailshift.errors`), atomic writes (:mod:`tailshift.atomic`) and file I/O
  (:mod:`tailshift.io`). It imports nothing else of TailShift.
* **engine** -- :mod:`tailshift.metrics` (scores), :mod:`tailshift.splits` (OOD splits),
  :mod:`tailshift.benchmark` (the synthetic world, datasets, predictions, evaluation, results)
  and :mod:`tailshift.leaderboard` (the static site from result files).
* **models** -- :mod:`tailshift.baselines` (the reference retrievals and their training).
* **application** -- :mod:`tailshift.app` (the ``tailshift`` command, quickstart, submission).

The repository keeps the top-level folders ``core/ metrics/ splits/ benchmark/ leaderboard/
baselines/ app/``; ``pyproject.toml`` maps each to its place in the namespace.
"""

__version__ = "0.1.0"
