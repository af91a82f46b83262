"""The statistical analysis plan as pure functions of counts and data frames.

Nothing here reads the store: every function takes counts or pandas frames whose columns are
documented in `endotrial.analysis.dataset`, so it is tested on frames made in the tests. Every
analysis returns `results.AnalysisResult` objects (docs/analysis.md has methods and sources):

- `proportions`: two groups' rates, differences, ratios, Fisher's and Boschloo's tests;
- `paired`: single-arm change from baseline (paired t, Wilcoxon with Hodges-Lehmann);
- `power`: analytic and exact power and sample size for two proportions;
- `safety_monitoring`: serious AEs by arm and the Bayesian probability of an excess;
- `adjusted`: g-computation, IPW, balance, multiple imputation, ANCOVA, GEE;
- `dataset`: the analysis dataset's column dictionary and `validate_frames`;
- `sets`: the protocol's analysis sets and expression covariates on the participants table;
- `safety_tables`: adverse events by arm, term, grade, seriousness and relatedness;
- `flow`: the TREND participant flow.

The build of the dataset from the store and the report are `endotrial.reporting`.

Submodules are imported by name (scipy and statsmodels load only when needed).
"""

__all__: list[str] = []  # submodules are imported by name
