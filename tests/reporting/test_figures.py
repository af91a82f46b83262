"""The report's figures are PNGs, the same bytes for the same data."""

import numpy as np
import pytest

from endotrial.analysis.flow import ArmFlow, Flow
from endotrial.analysis.results import AnalysisResult
from endotrial.reporting.figures import flow_diagram, forest_plot, mean_interval

FLOW = Flow(
    assessed=10, excluded=4, not_eligible=2, exclusion_reasons={"E8": 2}, incomplete=1,
    eligible_not_enrolled=1, enrolled=6, not_allocated=0,
    arms=(
        ArmFlow("hbmsc", 3, 2, 1, 1, {"moved away": 1}, 3, 0, 1),
        ArmFlow("control", 3, 3, 0, 0, {}, 3, 0, 2),
    ),
)  # fmt: skip


def test_the_flow_diagram_is_a_reproducible_png() -> None:
    first = flow_diagram(FLOW, labels={"hbmsc": "Stem cell"})
    assert first.startswith(b"\x89PNG\r\n\x1a\n")
    assert first == flow_diagram(FLOW, labels={"hbmsc": "Stem cell"})
    assert first != flow_diagram(FLOW)


def test_the_forest_plot_skips_what_could_not_be_estimated() -> None:
    estimated = AnalysisResult("RD", "Newcombe", 0.1, -0.1, 0.3, 0.95)
    missing = AnalysisResult("RD", "g-computation", None)
    assert forest_plot([("crude", estimated), ("adjusted", missing)]).startswith(b"\x89PNG")


def test_the_thickness_interval_is_students_t() -> None:
    # R: t.test(sleep$extra)$conf.int is 0.5955845 to 2.4844155, mean 1.54 (Student's sleep
    # data, both groups).
    extra = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0,
             1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]  # fmt: skip
    mean, low, high = mean_interval(np.array(extra))
    assert mean == pytest.approx(1.54)
    assert (low, high) == pytest.approx((0.5955845, 2.4844155), abs=1e-7)
