"""The report's languages: English as written, Simplified Chinese from a Babel catalogue.

The report has its own gettext domain (`report`), separate from the web's: its catalogue is
`locale/zh_Hans/LC_MESSAGES/report.po` here, compiled in memory when first used (as the web
does it), so an install needs no build step. `python -m endotrial.reporting.catalogue update`
merges new messages into it; the test suite checks that every message has a translation.

Two kinds of message are translated:
- the report's own texts, written with `t("...")` where they are shown;
- texts built elsewhere in English (the analysis plan's labels and notes, the statistical
  methods' descriptions), translated by `t.text(english)`: an exact message, or one of
  `TEMPLATES` whose `{placeholders}` are read back from the English text (numbers, formulas and
  the protocol's own names pass through unchanged). A text no message matches is shown as
  written.

Numbers and dates are not localised: the report prints them one way in both languages.
"""

from __future__ import annotations

import functools
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from endotrial.errors import InputError

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "report"
DEFAULT_LANGUAGE = "en"
#: `--lang` code → (catalogue folder, HTML lang attribute, name of the language in itself).
LANGUAGES: dict[str, tuple[str, str, str]] = {
    "en": ("en", "en", "English"),
    "zh": ("zh_Hans", "zh-Hans", "简体中文"),
}


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where it is shown."""
    return message


#: English texts built outside the renderer, with their variable parts as placeholders.
TEMPLATES: tuple[str, ...] = (
    # The analysis plan's labels and notes (reporting.compute).
    N_("rate, {arm}"),
    N_("{outcome} (per {denominator}), risk difference"),
    N_("{outcome}, Fisher's exact test"),
    N_("{outcome} (per {denominator})"),
    N_("{n} women still in follow-up (outcome unknown) left out"),
    N_("{outcome}: {n} women withdrawn before it was known left out"),
    N_("{outcome}: follow-up not complete for {n} women; estimated at the final analysis"),
    N_("{what}: not estimable ({error})"),
    N_("{what}: not computed ({error})"),
    N_("P(excess > {margin}), {prior} prior"),
    N_("posterior difference, {prior} prior"),
    N_(
        "margin {margin} set by the protocol (analysis_plan.serious_ae_margin); women with at "
        "least one serious event, independent binomial likelihoods"
    ),
    N_(
        "With {n_treated} and {n_control} women, and {p_control} clinical pregnancies in the "
        "control arm, a difference has 80% power (normal approximation, two-sided α = {alpha}) "
        "only if the stem-cell arm reaches {detectable}, a difference of {points} percentage "
        "points; Fisher's exact test has {exact} power for it."
    ),
    # Parts of the methods' descriptions (endotrial.analysis), split at "; ".
    N_("logistic outcome model: {formula}"),
    N_("logistic propensity model: {formula}"),
    N_("percentile bootstrap, {n} resamples within arm, seed {seed}"),
    N_("{n} bootstrap fits failed (separation) and were dropped"),
    N_("weights {low} to {high}"),
    N_("effective sample size {ess} of {n}"),
    N_("{n} imputations after {cycles} cycles, seed {seed}"),
    N_("Barnard-Rubin degrees of freedom {df}"),
    N_("residual df {df}"),
    N_("{n} participant(s) with unknown outcome or covariates left out"),
    N_("{n_embryos} embryos in {n_women} women"),
    N_("within-woman correlation {rho}"),
    N_("uncorrected robust interval {low} to {high}"),
    N_("prior {prior} for each arm"),
    N_("covariates {covariates}"),
    # Column heads of the safety tables (arm label, then what is counted).
    N_("{arm}: participants"),
    N_("{arm}: 95% CI"),
    N_("{arm}: events"),
    N_("{low} to {high}%"),
)

#: English texts built outside the renderer with nothing variable in them.
KNOWN: tuple[str, ...] = (
    N_("SYNTHETIC DEMO DATA: a simulated trial, not real patients"),
    # The analysis plan's sections, tables and results (reporting.compute).
    N_("Primary outcome: clinical pregnancy after the first transfer"),
    N_("Secondary outcomes"),
    N_("Safety (safety set, by treatment received)"),
    N_("Interim safety monitoring: serious adverse events"),
    N_("Covariate balance before and after weighting (SMD)"),
    N_("Cumulative serious adverse events by arm (safety set)"),
    N_("Listing of serious adverse events"),
    N_("risk difference (Newcombe)"),
    N_("risk difference (Miettinen-Nurminen)"),
    N_("risk ratio"),
    N_("odds ratio"),
    N_("Fisher's exact test (conditional MLE odds ratio)"),
    N_("Boschloo's exact test"),
    N_("Adjusted, g-computation (bootstrap)"),
    N_("Adjusted, inverse-probability weighting"),
    N_("Sensitivity: complete cases (delta method)"),
    N_("Sensitivity: missing covariates imputed (MICE)"),
    N_("Sensitivity: withdrawals left out"),
    N_("Sensitivity: per-protocol set"),
    N_("Unadjusted, Newcombe hybrid score"),
    N_("Unadjusted, Miettinen-Nurminen"),
    N_("Endometrial thickness in the transfer cycle (ANCOVA on baseline)"),
    N_("Implantation per embryo (GEE, exchangeable, Mancl-DeRouen)"),
    N_("clinical pregnancy"),
    N_("biochemical pregnancy"),
    N_("ongoing pregnancy"),
    N_("live birth"),
    N_("miscarriage"),
    N_("woman"),
    N_("g-computation"),
    N_("inverse-probability weighting"),
    N_("multiple imputation"),
    N_("balance table"),
    N_("thickness ANCOVA"),
    N_("implantation GEE"),
    N_("uniform"),
    N_("Jeffreys"),
    N_("the protocol sets no serious_ae_margin: no posterior probability"),
    N_("an arm has no woman in the safety set: no posterior probability"),
    N_(
        "A smaller true effect will usually give an interval that includes 0: such a result "
        "does not show that the treatments are equivalent. The estimate and its interval, "
        "not the p-value, are what this trial can report."
    ),
    N_(
        "Allocation was not random: the unadjusted comparison may be confounded; the "
        "adjusted estimates correct only for the covariates the plan names."
    ),
    # The methods' descriptions (endotrial.analysis).
    N_("Clopper-Pearson exact"),
    N_("Wilson score"),
    N_("Newcombe hybrid score (method 10)"),
    N_("Miettinen-Nurminen score"),
    N_("Katz log"),
    N_("Woolf logit"),
    N_("adjusted log (0.5 added to events and totals)"),
    N_("a group has no events: interval from the adjusted counts"),
    N_("Gart adjusted logit (0.5 added to every cell)"),
    N_("a zero cell: estimate and interval from the adjusted table"),
    N_("Fisher's exact test, exact conditional interval"),
    N_("no events (or no non-events) in either group: the odds ratio is not estimable"),
    N_("Boschloo's exact unconditional test"),
    N_("statistic: the one-sided Fisher p-value of the observed table"),
    N_("no events or no non-events at all: nothing to test, p = 1"),
    N_("standardisation (g-computation)"),
    N_("inverse-probability weighting (ATE), robust HC0 interval"),
    N_("weights treated as known: the interval is conservative"),
    N_("standardisation, complete cases, delta-method interval"),
    N_("standardisation, multiple imputation (MICE, PMM), Rubin's rules"),
    N_("women withdrawn before their outcome are excluded (plan's sensitivity analysis)"),
    N_("ANCOVA (OLS on arm and baseline)"),
    N_("GEE logistic, exchangeable, Mancl-DeRouen bias-reduced robust variance"),
    N_("beta-binomial posterior, numerical integration"),
    N_("beta-binomial posterior, equal-tailed credible interval"),
    N_("independent binomial likelihoods"),
    N_("uniform Beta(1, 1)"),
    N_("Jeffreys Beta(1/2, 1/2)"),
    # The safety tables (endotrial.analysis.safety_tables): titles, heads and row labels.
    N_("Participants with at least one adverse event"),
    N_("Adverse events by term (CTCAE v5)"),
    N_("Participants by worst CTCAE grade"),
    N_("Adverse events by seriousness"),
    N_("Adverse events by relatedness"),
    N_("women with at least one"),
    N_("any adverse event"),
    N_("serious adverse event"),
    N_("CTCAE grade 3 or more"),
    N_("related to any study treatment"),
    N_("fatal (grade 5)"),
    N_("no adverse event"),
    N_("worst CTCAE grade"),
    N_("total events"),
    N_("term"),
    N_("serious"),
    N_("to"),
    N_("relatedness"),
    N_("procedure"),
    N_("cells"),
    N_("HRT"),
    N_("not related"),
    N_("unlikely"),
    N_("possible"),
    N_("probable"),
    N_("definite"),
    N_("characteristic"),
    # The serious events' listing: heads and coded values.
    N_("participant id"),
    N_("arm"),
    N_("ctcae grade"),
    N_("onset date"),
    N_("related procedure"),
    N_("related cells"),
    N_("related hrt"),
    N_("expected"),
    N_("outcome"),
    N_("recovered"),
    N_("recovering"),
    N_("not recovered"),
    N_("recovered with sequelae"),
    N_("fatal"),
    N_("unknown"),
)

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        offered = ", ".join(f"{code} ({name})" for code, (_d, _h, name) in LANGUAGES.items())
        raise InputError(f"--lang {language}: the report is written in {offered}; choose one")
    return language


@functools.cache
def translations(language: str) -> NullTranslations:
    """The compiled catalogue of `language` (English: the messages as written)."""
    folder = LANGUAGES[check_language(language)][0]
    po_file = LOCALE_DIR / folder / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language == DEFAULT_LANGUAGE:
        return NullTranslations()
    if not po_file.is_file():
        raise InputError(f"the report's {language} catalogue is missing: {po_file}; reinstall")
    with po_file.open("rb") as source:
        catalog = read_po(source, locale=folder, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


@functools.cache
def _template_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """Each template as a regular expression that reads its placeholders back."""
    patterns = []
    for template in TEMPLATES:
        pieces = _PLACEHOLDER.split(template)
        regex = "".join(
            re.escape(piece) if index % 2 == 0 else f"(?P<{piece}>.+?)"
            for index, piece in enumerate(pieces)
        )
        patterns.append((re.compile(regex, re.DOTALL), template))
    return tuple(patterns)


@dataclass(frozen=True)
class Translator:
    """The report's texts in one language: `t(message, **params)` for the report's own
    messages, `t.text(english)` for texts built elsewhere."""

    language: str = DEFAULT_LANGUAGE

    def __post_init__(self) -> None:
        check_language(self.language)

    @property
    def html_lang(self) -> str:
        return LANGUAGES[self.language][1]

    @property
    def english(self) -> bool:
        return self.language == DEFAULT_LANGUAGE

    def __call__(self, message: str, **params: Any) -> str:
        translated = str(translations(self.language).gettext(message))
        return translated.format(**params) if params else translated

    def text(self, english: str) -> str:
        """A text built elsewhere in English, in this language (as written if no message
        matches it)."""
        if self.english or not english:
            return english
        exact = str(translations(self.language).gettext(english))
        if exact != english:
            return exact
        for pattern, template in _template_patterns():
            found = pattern.fullmatch(english)
            if found is None:
                continue
            translated = str(translations(self.language).gettext(template))
            if translated == template:
                continue
            values = {name: self.text(value) for name, value in found.groupdict().items()}
            return translated.format(**values)
        return english

    def method(self, description: str) -> str:
        """A method's description and notes ("; "-separated parts), part by part."""
        return self("; ").join(self.text(part) for part in description.split("; "))


ENGLISH = Translator()
