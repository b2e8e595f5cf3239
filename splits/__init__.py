"""OOD splits: declarative TOML files and the loader that checks and applies them.

Importing this package is cheap: no torch, no xarray (numpy and ``tailshift.schema`` only).
See :mod:`tailshift.splits.loader` for the file format and the rules, :mod:`tailshift.splits.model`
for the loaded split and :mod:`tailshift.splits.masks` for applying it to scenes.
"""

from tailshift.splits.loader import SPLITS_DIR, list_splits, load_split, selections_may_overlap
from tailshift.splits.masks import (
    check_disjoint,
    required_coords,
    role_mask,
    role_masks,
    scene_fraction,
)
from tailshift.splits.model import RoleSelection, RoleSpec, Selection, Split

__all__ = [
    "SPLITS_DIR",
    "RoleSelection",
    "RoleSpec",
    "Selection",
    "Split",
    "check_disjoint",
    "list_splits",
    "load_split",
    "required_coords",
    "role_mask",
    "role_masks",
    "scene_fraction",
    "selections_may_overlap",
]
