"""The statistical analysis plan as pure functions of counts and data frames.

Nothing here reads the store: every function takes counts or pandas frames whose columns are
documented in `endotrial.analysis.dataset`, so it is tested on frames made in the tests.
"""
