"""Names, dimensions, units and the channel table: the one place they are spelled.

Every variable, dimension, coordinate and channel name used by the data model (docs/design.md, Names) lives
here as a constant (docs/design.md, Conventions). Import these instead of typing strings.

Channel table: GPM Microwave Imager (GMI), 13 channels. Centre frequencies, incidence angles and
3-dB footprints (along-track x cross-track, km) are from the NASA GMI instrument tables; on-orbit
NEDT (K) from Draper et al. (2015), IEEE JSTARS 8(9), 4452-4465. See docs/world.md, GMI channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tailshift.errors import BadInputError

# --- dimensions -----------------------------------------------------------------------------
DIM_SCENE = "scene"
DIM_CHANNEL = "channel"
DIM_Y = "y"
DIM_X = "x"
DIM_QUANTILE = "quantile"
DIM_MEMBER = "member"

# --- data variables -------------------------------------------------------------------------
VAR_TB = "tb"
VAR_PRECIP = "surface_precip"
VAR_QUANTILES = "surface_precip_quantiles"
VAR_SAMPLES = "surface_precip_samples"

# --- scene coordinates / ancillary ----------------------------------------------------------
COORD_TIME = "time"
COORD_YEAR = "year"
COORD_REGIME = "regime"
COORD_REGION = "region"
COORD_WARMING = "warming"
COORD_SOURCE = "source"
COORD_ERA = "era"
VAR_SURFACE = "surface_type"
VAR_T2M = "t2m"
VAR_TCWV = "tcwv"
VAR_FREEZING = "freezing_level"
COORD_FREQUENCY = "frequency"
COORD_POLARIZATION = "polarization"

SCENE_COORDS = (
    COORD_TIME,
    COORD_YEAR,
    COORD_REGIME,
    COORD_REGION,
    COORD_WARMING,
    COORD_SOURCE,
    COORD_ERA,
    VAR_SURFACE,
    VAR_T2M,
    VAR_TCWV,
    VAR_FREEZING,
)

# --- units ----------------------------------------------------------------------------------
UNITS_PRECIP = "mm h-1"
UNITS_PRECIP_ALIASES = ("mm h-1", "mm/h", "mm h^-1", "mm hr-1", "mm/hr")
UNITS_TB = "K"
UNITS_WARMING = "K"
UNITS_TCWV = "kg m-2"
UNITS_FREEZING = "m"

# --- categorical values ---------------------------------------------------------------------
REGIMES = ("tropical_ocean", "midlat_ocean", "midlat_land", "tropical_land", "snow_land")
SURFACES = ("ocean", "land", "snow")
REGIME_SURFACE = {
    "tropical_ocean": "ocean",
    "midlat_ocean": "ocean",
    "midlat_land": "land",
    "tropical_land": "land",
    "snow_land": "snow",
}
SOURCES = ("obs", "sim")
SOURCE_OBS = "obs"
SOURCE_SIM = "sim"
ERA_OBSERVED = "observed"
ERA_FUTURE = "future"
#: Last year of the observed era (docs/world.md, Scenes, eras, regimes and regions: observations exist 1998-2025).
OBSERVED_ERA = (1998, 2025)
#: Years the simulator covers (it can run any warming level).
SIMULATED_ERA = (1980, 2100)
#: Years the held-back observed truth extends to (evaluation roles only).
FUTURE_ERA = (2026, 2100)

ROLES = ("train", "id_val", "id_test", "ood_val", "ood_test")
EVAL_ROLES = ("id_test", "ood_test")
#: Result-only role: id_test and ood_test scored together from their merged statistics. Trend
#: metrics need a wide warming range; within one role it is narrow (temporal split: ID
#: 0.7-1.4 K, OOD 2.0-2.8 K), so their per-role CIs are wide. Written by ``tailshift submit``.
ROLE_ALL_TEST = "all_test"

# --- store layout ---------------------------------------------------------------------------
OBS_STORE = "obs.zarr"
SIM_STORE = "sim.zarr"
MANIFEST = "manifest.json"
#: Offset added to simulator scene ids so ids are unique across the dataset.
SIM_ID_OFFSET = 10_000_000

#: Rain/no-rain threshold (mm/h) used for "raining" statistics, docs/world.md, Rain fields.
RAIN_THRESHOLD = 0.2


@dataclass(frozen=True)
class Channel:
    """One GMI channel.

    Attributes
    ----------
    name : str
        Channel id, e.g. ``"89V"`` or ``"183.31+-7V"``.
    frequency : float
        Centre frequency in GHz.
    polarization : str
        ``"V"`` or ``"H"``.
    incidence : float
        Earth incidence angle in degrees.
    footprint : tuple[float, float]
        3-dB footprint (along-track, cross-track) in km.
    nedt : float
        Noise-equivalent differential temperature in K (Draper et al. 2015).
    """

    name: str
    frequency: float
    polarization: str
    incidence: float
    footprint: tuple[float, float]
    nedt: float


#: The 13 GMI channels in instrument order (docs/world.md, GMI channels).
CHANNELS: tuple[Channel, ...] = (
    Channel("10.65V", 10.65, "V", 52.8, (32.1, 19.4), 0.77),
    Channel("10.65H", 10.65, "H", 52.8, (32.1, 19.4), 0.78),
    Channel("18.7V", 18.7, "V", 52.8, (18.1, 10.9), 0.63),
    Channel("18.7H", 18.7, "H", 52.8, (18.1, 10.9), 0.60),
    Channel("23.8V", 23.8, "V", 52.8, (16.0, 9.7), 0.51),
    Channel("36.64V", 36.64, "V", 52.8, (15.6, 9.4), 0.41),
    Channel("36.64H", 36.64, "H", 52.8, (15.6, 9.4), 0.42),
    Channel("89.0V", 89.0, "V", 52.8, (7.2, 4.4), 0.32),
    Channel("89.0H", 89.0, "H", 52.8, (7.2, 4.4), 0.31),
    Channel("166.5V", 166.5, "V", 49.2, (6.3, 4.1), 0.70),
    Channel("166.5H", 166.5, "H", 49.2, (6.3, 4.1), 0.65),
    Channel("183.31+-3V", 183.31, "V", 49.2, (5.8, 3.8), 0.56),
    Channel("183.31+-7V", 183.31, "V", 49.2, (5.8, 3.8), 0.47),
)
CHANNEL_NAMES: tuple[str, ...] = tuple(c.name for c in CHANNELS)
CHANNEL_BY_NAME = {c.name: c for c in CHANNELS}
#: DRAIN's four inputs (Viltard et al., arXiv:2303.01220): 37V/H and 89V/H.
DRAIN4_CHANNELS = ("36.64V", "36.64H", "89.0V", "89.0H")
#: Sensor-OOD channel set: GMI without its high-frequency (166/183 GHz) channels.
NO_HIGH_FREQ_CHANNELS = tuple(c.name for c in CHANNELS if c.frequency < 100.0)

#: Named channel sets accepted wherever a channel list is configured.
CHANNEL_SETS = {
    "all": CHANNEL_NAMES,
    "drain4": DRAIN4_CHANNELS,
    "no_high_freq": NO_HIGH_FREQ_CHANNELS,
}


def resolve_channels(
    spec: str | Sequence[str] | None,
    *,
    default: Sequence[str] | None = None,
    within: Sequence[str] | None = None,
    provider: str = "the data",
) -> tuple[str, ...]:
    """Turn a channel request into a validated tuple of channel names.

    The one place a channel request (a set name, a list of names, or nothing) becomes names;
    split roles, dataset selection and model configs all go through it.

    Parameters
    ----------
    spec : str, sequence of str or None
        A :data:`CHANNEL_SETS` name or a list of channel names. ``None`` means ``default`` when
        one is given.
    default : sequence of str, optional
        The (already resolved) names an absent request stands for, e.g. a split role's channels.
    within : sequence of str, optional
        The names the request must stay within, e.g. what a split role provides.
    provider : str
        Who provides ``within``, for the error message (e.g. ``"role train of split 'iid'"``).

    Raises
    ------
    tailshift.errors.BadInputError
        If a name is not a GMI channel of :data:`CHANNELS`, the set name is unknown, or a name is
        not in ``within``.
    """
    if spec is None and default is not None:
        names = tuple(default)
    elif isinstance(spec, str):
        if spec not in CHANNEL_SETS:
            raise BadInputError(
                f"unknown channel set {spec!r}; use one of {sorted(CHANNEL_SETS)} "
                + "or a list of channel names"
            )
        names = CHANNEL_SETS[spec]
    else:
        names = tuple(spec)
        unknown = [n for n in names if n not in CHANNEL_BY_NAME]
        if unknown:
            raise BadInputError(
                f"unknown channel(s) {unknown}; valid channels are {list(CHANNEL_NAMES)}"
            )
    if within is not None:
        extra = [c for c in names if c not in within]
        if extra:
            raise BadInputError(f"{provider} provides only {list(within)}; drop {extra}")
    return names
