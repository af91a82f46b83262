"""Gardner blastocyst grades (expansion 1-6, inner cell mass A-C, trophectoderm A-C).

"Good quality" differs between centres, so the thresholds come from the protocol's settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from endotrial.errors import InputError
from endotrial.protocol.models import Protocol
from endotrial.protocol.settings import (
    GOOD_BLASTOCYST_ICM_GRADES,
    GOOD_BLASTOCYST_MIN_EXPANSION,
    GOOD_BLASTOCYST_TE_GRADES,
)

_GRADE = re.compile(r"^\s*([1-6])\s*([ABC])\s*([ABC])\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class GardnerGrade:
    expansion: int
    inner_cell_mass: str
    trophectoderm: str

    def __str__(self) -> str:
        return f"{self.expansion}{self.inner_cell_mass}{self.trophectoderm}"


def parse_gardner(text: str) -> GardnerGrade:
    """Read a grade such as '4AB'; anything else is a clear input error."""
    match = _GRADE.match(text)
    if match is None:
        raise InputError(
            f"'{text}' is not a Gardner grade: write expansion 1-6 then inner cell mass and "
            "trophectoderm A-C, e.g. 4AB"
        )
    expansion, icm, te = match.groups()
    return GardnerGrade(int(expansion), icm.upper(), te.upper())


def is_good_quality(grade: GardnerGrade, protocol: Protocol) -> bool:
    """Good quality by the protocol's settings (the seed: ≥3BB)."""
    min_expansion = GOOD_BLASTOCYST_MIN_EXPANSION.number(protocol)
    icm_grades = GOOD_BLASTOCYST_ICM_GRADES.text(protocol)
    te_grades = GOOD_BLASTOCYST_TE_GRADES.text(protocol)
    return (
        grade.expansion >= min_expansion
        and grade.inner_cell_mass in icm_grades
        and grade.trophectoderm in te_grades
    )
