"""From the trial's database to its analysis: the dataset build and the report.

`dataset_build.build_dataset(engine, protocol)` reads the store through a read-only session
into the typed tables of `endotrial.analysis.dataset`; `report` computes the analysis plan on
them (the pure functions of `endotrial.analysis`) and writes HTML, PDF and CSV files. Nothing
here writes to the store.
"""

__all__: list[str] = []  # submodules are imported by name
