"""The data model of a loaded split: :class:`Selection`, :class:`RoleSpec` and :class:`Split`.

Frozen dataclasses only; :mod:`tailshift.splits.loader` builds them from a split file (and
documents what each field means there), :mod:`tailshift.splits.masks` applies them to scenes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tailshift import schema
from tailshift.errors import BadInputError


@dataclass(frozen=True)
class Selection:
    """One conjunction of conditions on scene coordinates (see the module docstring).

    ``None`` means "no condition". Ranges are ``(lo, hi)``: inclusive for ``years`` and
    ``warming`` (K), half-open ``[lo, hi)`` for ``fraction``.
    """

    source: str
    years: tuple[int, int] | None = None
    regimes: tuple[str, ...] | None = None
    warming: tuple[float, float] | None = None
    era: str | None = None
    fraction: tuple[float, float] | None = None
    record_breaking: bool | None = None

    def describe(self) -> str:
        """A short human-readable form, e.g. ``obs years 1998-2025 fraction [0, 0.7)``."""
        parts = [self.source]
        if self.years is not None:
            parts.append(f"years {self.years[0]}-{self.years[1]}")
        if self.regimes is not None:
            parts.append("regimes " + ",".join(self.regimes))
        if self.warming is not None:
            parts.append(f"warming {self.warming[0]:g}-{self.warming[1]:g} K")
        if self.era is not None:
            parts.append(f"era {self.era}")
        if self.fraction is not None:
            parts.append(f"fraction [{self.fraction[0]:g}, {self.fraction[1]:g})")
        if self.record_breaking is not None:
            parts.append("record-breaking" if self.record_breaking else "not record-breaking")
        return " ".join(parts)


#: Alias used in the issue text.
RoleSelection = Selection


@dataclass(frozen=True)
class RoleSpec:
    """One role: the union of its selections, and the channels a model gets for it."""

    name: str
    selections: tuple[Selection, ...]
    channels: tuple[str, ...] = schema.CHANNEL_NAMES
    description: str = ""

    @property
    def sources(self) -> tuple[str, ...]:
        """Sources this role draws from, in ``schema.SOURCES`` order."""
        used = {s.source for s in self.selections}
        return tuple(s for s in schema.SOURCES if s in used)

    @property
    def needs_data(self) -> bool:
        """True if a selection uses a data-dependent predicate (``record_breaking``)."""
        return any(s.record_breaking is not None for s in self.selections)


@dataclass(frozen=True)
class Split:
    """A loaded and checked split.

    Attributes
    ----------
    name : str
        Split name (``name`` key, else the file stem).
    hash : str
        SHA-256 hex digest of the parsed content (:func:`tailshift.splits.loader.content_hash`; recorded in every result).
    roles : dict[str, RoleSpec]
        Defined roles, in ``schema.ROLES`` order.
    train_sources : tuple[str, ...]
        Sources training may use (``obs``, ``sim``).
    description : str
        One line from the file.
    path : pathlib.Path
        The file it was loaded from.
    """

    name: str
    hash: str
    roles: dict[str, RoleSpec] = field(hash=False)
    train_sources: tuple[str, ...]
    description: str = ""
    path: Path | None = None
    record_quantile: float = 1.0
    record_sources: tuple[str, ...] | None = None

    def role(self, role: str) -> RoleSpec:
        """The :class:`RoleSpec` of ``role``; BadInputError naming the defined roles if absent."""
        if role not in self.roles:
            raise BadInputError(
                f"split {self.name!r} has no role {role!r}; use one of {list(self.roles)}"
            )
        return self.roles[role]

    def channels_for(self, role: str) -> tuple[str, ...]:
        """Channel names a model receives for ``role`` (e.g. no 166/183 GHz in sensor OOD)."""
        return self.role(role).channels

    @property
    def eval_roles(self) -> tuple[str, ...]:
        """The test roles this split defines (subset of ``schema.EVAL_ROLES``)."""
        return tuple(r for r in schema.EVAL_ROLES if r in self.roles)

    @property
    def short_hash(self) -> str:
        """First 12 hex digits of :attr:`hash`."""
        return self.hash[:12]
