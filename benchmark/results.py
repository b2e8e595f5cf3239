"""Result files: the one format the scorer writes and the leaderboard reads (CONVENTIONS.md 6).

One JSON file per (submission, split) at ``<results_dir>/<split>/<slug>.json`` where ``slug`` is
the submission name lower-cased with every run of characters outside ``[a-z0-9]`` replaced by
``-``. Written atomically (temp file + rename). Scoring a further role of the same submission and
split adds that role to the file; replacing a role already present needs ``--force``.

Format, ``schema_version`` 1 (all floats are JSON numbers or ``null`` for undefined values)::

    {
      "schema_version": 1,
      "created_by": "tailshift 0.1.0",
      "submission": {"name": str, "model": str, "description": str,
                     "training_sources": ["obs" | "sim", ...], "code_hash": str | null,
                     "baseline": str | null},
      "split":   {"name": str, "hash": str},
      "dataset": {"checksum": str, "preset": str, "generator_version": str},
      "metrics": {"<metric>": {"family": str, "units": str, "description": str,
                               "higher_is_better": bool | null,   # null: closer to target wins
                               "target": float | null}},
      "roles": {
        "<role>": {                       # "id_test", "ood_test" (and val roles if scored)
          "n_scenes": int, "n_pixels": int, "channels": [str, ...],
          "scores": {"<metric>": {"value": float | bool | null,
                                  "ci_low": float | null, "ci_high": float | null}},
          "groups": {"<dim>": {"<label>": {"<metric>": {"value", "ci_low", "ci_high"}}}},
                                          # dims: "regime", "surface_type", "intensity_bin"
          "worst_group": {"<metric>": {"dim": str, "label": str, "value": float}},
          "curves": {
            "pit":           {"edges": [float], "density": [float]},
            "reliability":   {"levels": [float], "observed": [float]},
            "qq":            {"p": [float], "reference": [float], "retrieved": [float]},
            "return_levels": {"periods": [float],
                              "reference": {"level": [float], "ci_low": [float], "ci_high": [float]},
                              "retrieved": {"level": [float], "ci_low": [float], "ci_high": [float]}},
            "scaling":       {"warming": [float],
                              "reference": {"mean": [float], "p99": [float], "p999": [float]},
                              "retrieved": {"mean": [float], "p99": [float], "p999": [float]}},
            "by_intensity":  {"bins": [str], "<metric>": [float]}
          },
          "examples": [{"scene": int | str, "reference": [[float]], "median": [[float]],
                        "q99": [[float]]}]   # at most 3 scenes, values rounded to 0.01 mm/h
        }
      },
      "gap": {"<metric>": {"value", "ci_low", "ci_high"}}   # ood_test - id_test when both exist
    }

Any key of ``curves`` may be absent (e.g. no PIT for a point-only model); readers must cope.
"""

from __future__ import annotations

SCHEMA_VERSION = 1
