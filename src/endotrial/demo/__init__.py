"""A synthetic, reproducible run of the whole trial, built through the services.

SYNTHETIC DATA for demonstrations and tests only; never analyse it as evidence.
"""

from endotrial.demo.run import DEFAULT_SEED, DemoSummary, build_demo, render_summary
from endotrial.demo.target import prepare_demo_database

__all__ = [
    "DEFAULT_SEED",
    "DemoSummary",
    "build_demo",
    "prepare_demo_database",
    "render_summary",
]
