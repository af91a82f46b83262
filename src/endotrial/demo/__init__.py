"""A synthetic, reproducible run of the whole trial, built through the services.

SYNTHETIC DATA for demonstrations and tests only; never analyse it as evidence.
"""

from endotrial.demo.run import (
    DATA_CUTOFF,
    DEFAULT_SEED,
    DemoSummary,
    build_demo,
    check_seed,
    create_demo,
    data_cutoff,
    render_summary,
)
from endotrial.demo.target import prepare_demo_database

__all__ = [
    "DATA_CUTOFF",
    "DEFAULT_SEED",
    "DemoSummary",
    "build_demo",
    "check_seed",
    "create_demo",
    "data_cutoff",
    "prepare_demo_database",
    "render_summary",
]
