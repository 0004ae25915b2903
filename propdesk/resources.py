"""Where propdesk's data files live: the repository's `resources/` or the installed copy.

The domain stays free of I/O; this module is the one place that turns a resource name into bytes.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from propdesk.domain.commissions import CommissionBook
    from propdesk.domain.firms import ProfileSet
    from propdesk.domain.instruments import InstrumentBook

_PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def resources_dir() -> Path:
    """The directory holding instruments.toml, firms/ and friends.

    A wheel carries them inside the package (`propdesk/_resources`); a source checkout or an editable
    install reads the repository's top-level `resources/`.
    """
    for candidate in (_PACKAGE_DIR / "_resources", _PACKAGE_DIR.parent / "resources"):
        if (candidate / "instruments.toml").is_file():
            return candidate
    raise FileNotFoundError(
        f"propdesk's resources were not found beside {_PACKAGE_DIR}; the installation is incomplete"
    )


def resource_path(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)


def read_text(*parts: str) -> str:
    return resource_path(*parts).read_text(encoding="utf-8")


def load_instruments() -> InstrumentBook:
    from propdesk.domain.instruments import InstrumentBook

    return InstrumentBook.from_toml(read_text("instruments.toml"))


def load_commissions() -> CommissionBook:
    """The firms' commission schedules (resources/commissions.toml), validated."""
    from propdesk.domain.commissions import parse_commissions

    return parse_commissions(read_text("commissions.toml"), "commissions.toml")


def load_profiles() -> ProfileSet:
    """Every firm profile shipped in resources/firms, validated, each naming a schedule that exists."""
    from propdesk.domain.firms import ProfileError, ProfileSet

    folder = resource_path("firms")
    profiles = ProfileSet.from_texts(
        (path.name, path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.toml"))
    )
    problems = load_commissions().unknown_references(profiles.values())
    if problems:
        raise ProfileError(problems)
    return profiles
