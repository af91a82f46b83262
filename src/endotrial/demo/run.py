"""Build a synthetic run of a trial by calling the services, so it obeys every rule, then
verify it.

Any protocol: its arms, cycles, procedures and dose rules, scans, visits and (when it has
them) embryo transfers and pregnancy outcomes come from the file (see `follow`); the numbers
the run draws from come from a `Profile`, cited for the seed trial and synthetic (and said to
be) for any other.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import cast

import numpy as np
from sqlalchemy import Engine

from endotrial.demo import effects as fx
from endotrial.demo.cited import profile_for
from endotrial.demo.follow import Follow, PastCutoff, Tally, _date
from endotrial.demo.population import FIRST_SCREENING
from endotrial.demo.profile import Candidate, Profile, arms_with_cells
from endotrial.demo.target import prepare_demo_database, remove_sqlite_file
from endotrial.errors import EndotrialError, InputError
from endotrial.protocol import Protocol, load_protocol
from endotrial.protocol.models import EventRole
from endotrial.services import (
    Actor,
    AllocationInput,
    CandidateInput,
    ConsentInput,
    EnrolmentInput,
    QueryAnswer,
    QueryClosure,
    QueryInput,
    ScreeningRecord,
    SiteInput,
    Study,
    TeamMember,
    add_user,
    adverse_events,
    allocate,
    answer_query,
    close_query,
    dashboard,
    enrol,
    open_query,
    outcome_measures,
    participants,
    pregnancy_outcome,
    record_consent,
    screen_many,
    screening_log,
    set_up_study,
    sign_in,
)
from endotrial.services.screening import Items
from endotrial.store import Role, make_engine, upgrade_database, verify_audit_chain

DEFAULT_SEED = 20250930
#: The synthetic trial's data cut-off: nothing later is recorded, so visits due after it are
#: still pending. Fixed so that runs reproduce; a machine whose clock is earlier uses its own
#: date instead (the services refuse dates in the future), see `data_cutoff`.
DATA_CUTOFF = dt.date(2026, 11, 20)
DEFAULT_CANDIDATES = 150
#: Candidates screened per participant to enrol, when the enrolment is not the seed's 60.
CANDIDATES_PER_PARTICIPANT = 2.5
COORDINATOR = "coord.li"
INVESTIGATOR = "pi.chen"
RADIOLOGIST = "ir.wang"
EMBRYOLOGIST = "embryo.huang"
MONITOR = "monitor.zhao"
#: The investigator comes first: on the new database she creates the site and her own account
#: (the bootstrap rule of services.people), then adds the rest of the team.
#: The demo's sign-ins (printed by `make run`): SYNTHETIC accounts for a demonstration only.
DEMO_PASSWORDS = {
    INVESTIGATOR: "demo-investigator-pw",
    COORDINATOR: "demo-coordinator-pw",
    RADIOLOGIST: "demo-radiologist-pw",
    EMBRYOLOGIST: "demo-embryologist-pw",
    MONITOR: "demo-monitor-pw",
}
TEAM = (
    (INVESTIGATOR, "Chen Hui (investigator)", Role.INVESTIGATOR),
    (COORDINATOR, "Li Na (research coordinator)", Role.COORDINATOR),
    (RADIOLOGIST, "Wang Jun (interventional radiology)", Role.RADIOLOGIST),
    (EMBRYOLOGIST, "Huang Lei (embryology lab)", Role.EMBRYOLOGIST),
    (MONITOR, "Zhao Min (monitor)", Role.MONITOR),
)
#: The record counts the verification compares with what the run wrote.
VERIFIED_COUNTS = ("ultrasounds", "medication_records", "procedures")


class DemoError(EndotrialError):
    """The demo cannot be built from this protocol, or what it built does not verify."""

    default_code = "demo.invalid"


@dataclass(frozen=True)
class DemoSummary:
    """What the synthetic run produced (equal for equal seeds, whatever the time taken)."""

    seed: int
    data_cutoff: dt.date
    screened: int
    decisions: dict[str, int]
    enrolled_by_arm: dict[str, int]
    withdrawn: int
    procedures: int
    transfers: int
    cancelled_transfers: int
    clinical_pregnancies_by_arm: dict[str, int]
    live_births_by_arm: dict[str, int]
    in_follow_up: int
    """Enrolled, not withdrawn, without a recorded transfer by the cut-off (a protocol
    without transfers: every one not withdrawn)."""
    adverse_events: int
    serious_adverse_events: int
    deviations: int
    open_queries: int
    visits_due: int
    """Scheduled events due on the cut-off date (inside their window, not yet recorded)."""
    visits_overdue: int
    """Scheduled events past their window on the cut-off date with nothing recorded."""
    elapsed_seconds: float = field(compare=False)
    protocol_id: str = ""
    has_transfers: bool = True
    procedure_word: str = "procedures"
    provenance: str = ""
    """Where the effect sizes come from (cited, or synthetic and not evidence)."""
    illustrative_note: str | None = None
    """Set when the number simulated is not the registry's enrolment, saying why."""
    verification: tuple[str, ...] = ()
    """What was checked once the run was built, each passed (a failure raises DemoError)."""


def data_cutoff(today: dt.date | None = None) -> dt.date:
    """The cut-off a run uses: `DATA_CUTOFF`, or today when the clock is earlier.

    Runs reproduce (same seed, same trial) whenever the clock is on or after `DATA_CUTOFF`.
    On an earlier clock the cut-off is today: the run is still reproducible for that day, but
    it is a different synthetic trial (one random stream feeds every participant, so stopping
    earlier shifts what later participants draw).
    """
    return min(DATA_CUTOFF, today or dt.date.today())


def check_seed(seed: int) -> int:
    """A seed the random generator accepts: a whole number, 0 or more."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(
            f"seed {seed} cannot seed the synthetic trial: give a whole number, 0 or more "
            f"(the same seed gives the same trial; default {DEFAULT_SEED})"
        )
    return seed


def check_participants(count: int | None) -> int | None:
    if count is not None and (isinstance(count, bool) or count < 1):
        raise InputError(
            f"--participants {count}: give a whole number, 1 or more (left out: the "
            "protocol's enrolment)"
        )
    return count


def check_buildable(protocol: Protocol) -> None:
    """A protocol whose demo cannot be built is refused before anything is created, saying
    what in the file stops it."""
    from endotrial.schedule.engine import schedule_problems

    problems = [message for _origin, message in schedule_problems(protocol)]
    if problems:
        raise DemoError(
            f"protocol {protocol.protocol_id}: the demo cannot follow a participant because "
            f"an arm's schedule cannot be built: {problems[0]}; run `endotrial protocol "
            "validate` on the file and correct it"
        )
    events = {e.id for e in protocol.schedule}
    for arm in protocol.arms:
        own = {e.id for e in protocol.schedule if e.arms is None or arm.id in e.arms}
        starts = [c for c in protocol.cycles if c.start_event in own]
        if not starts:
            raise DemoError(
                f"protocol {protocol.protocol_id}: arm '{arm.id}' has no cycle whose start "
                f"event is in its schedule (cycles start at "
                f"{sorted(c.start_event for c in protocol.cycles)}; schedule events "
                f"{sorted(events)}): the demo cannot start her treatment; give the arm a cycle"
            )


def create_demo(
    url: str | None,
    *,
    seed: int = DEFAULT_SEED,
    replace: bool = False,
    protocol: Protocol | None = None,
    today: dt.date | None = None,
    participants: int | None = None,
) -> DemoSummary:
    """What `endotrial demo` does: check the inputs, prepare the database, build the run.

    Nothing is created when an input is wrong; a SQLite file created here is removed again
    when the build fails half-way, so that running it again is not refused as "holds data".
    """
    check_seed(seed)
    check_participants(participants)
    check_buildable(protocol or load_protocol())
    check_enrolment(protocol or load_protocol(), participants)
    _check_cutoff(data_cutoff(today))
    created = prepare_demo_database(url, replace=replace)
    try:
        return build_demo(url, seed=seed, protocol=protocol, today=today, participants=participants)
    except BaseException:
        if created is not None:
            remove_sqlite_file(created)
        raise


def build_demo(
    url: str | None,
    *,
    seed: int = DEFAULT_SEED,
    candidates: int | None = None,
    protocol: Protocol | None = None,
    today: dt.date | None = None,
    participants: int | None = None,
) -> DemoSummary:
    """Create (migrate) the database at `url`, fill it with a synthetic run of the trial,
    recorded up to `data_cutoff(today)` (today: the machine's date by default), and verify
    what was built."""
    check_seed(seed)
    check_participants(participants)
    protocol = protocol or load_protocol()
    check_buildable(protocol)
    check_enrolment(protocol, participants)
    cutoff = _check_cutoff(data_cutoff(today))
    target, note = _enrolment(protocol, participants)
    pool_size = candidates or _pool_size(target)
    started = time.perf_counter()
    upgrade_database(url)
    engine = make_engine(url)
    try:
        rng = np.random.default_rng(seed)
        run = _Run(Study(engine, protocol), rng, cutoff, profile_for(protocol), target)
        run.execute(pool_size)
        checks = _verify(engine, run)
        elapsed_s = time.perf_counter() - started
        summary = _summary(run, seed, elapsed_s)
        return _with(summary, note, checks)
    finally:
        engine.dispose()


def _enrolment(protocol: Protocol, participants: int | None) -> tuple[int, str | None]:
    """How many to enrol, and a note when that is not the registry's enrolment.

    A trial whose registered enrolment is 0 (withdrawn before enrolling) has no one to
    simulate: the services enrol no one beyond the protocol's enrolment, and the demo does
    not invent participants the trial never had. Its candidates are screened, and the output
    says why no one is enrolled."""
    registered = protocol.identity.enrollment_target
    if registered == 0:
        return 0, (
            "the registry's enrolment is 0 (the trial enrolled no one): nothing to simulate "
            "past screening; candidates were screened, no one enrolled"
        )
    if participants is None or participants == registered:
        return registered, None
    return participants, (
        f"{participants} participants simulated as asked (the registry's enrolment is {registered})"
    )


def check_enrolment(protocol: Protocol, participants: int | None) -> None:
    """More participants than the protocol enrols are refused (so would the services be)."""
    registered = protocol.identity.enrollment_target
    if participants is not None and registered and participants > registered:
        raise DemoError(
            f"--participants {participants} is more than protocol {protocol.protocol_id} "
            f"enrols ({registered}): the services enrol no one beyond it; give at most "
            f"{registered}, or leave it out"
        )


def _pool_size(target: int) -> int:
    if target == 60:  # the seed's 60 women: the pool its cited figures were drawn from
        return DEFAULT_CANDIDATES
    return max(4, round(target * CANDIDATES_PER_PARTICIPANT))


def _with(summary: DemoSummary, note: str | None, checks: tuple[str, ...]) -> DemoSummary:
    from dataclasses import replace

    return replace(summary, illustrative_note=note, verification=checks)


def _check_cutoff(cutoff: dt.date) -> dt.date:
    if cutoff < FIRST_SCREENING:
        raise InputError(
            f"the synthetic trial starts screening on {FIRST_SCREENING}, after this machine's "
            f"date {cutoff}: check the computer's clock"
        )
    return cutoff


def render_summary(summary: DemoSummary) -> str:
    """The summary as a few lines of text for the CLI."""
    followed = (
        f"{summary.in_follow_up} still before their transfer"
        if summary.has_transfers
        else f"{summary.in_follow_up} followed, not withdrawn"
    )
    done = f"withdrawn {summary.withdrawn}; {summary.procedure_word} {summary.procedures}"
    lines = [
        f"synthetic run (seed {summary.seed}) built in {summary.elapsed_seconds:.1f} s",
        f"screened {summary.screened}: "
        + ", ".join(f"{k} {v}" for k, v in sorted(summary.decisions.items())),
        "enrolled: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.enrolled_by_arm.items())),
    ]
    if summary.has_transfers:
        lines += [
            f"{done}; transfers {summary.transfers} ({summary.cancelled_transfers} cancelled)",
            "clinical pregnancies: "
            + ", ".join(f"{k} {v}" for k, v in sorted(summary.clinical_pregnancies_by_arm.items()))
            + "; live births: "
            + ", ".join(f"{k} {v}" for k, v in sorted(summary.live_births_by_arm.items())),
        ]
    else:
        lines.append(f"{done}; no embryo transfers in this protocol")
    lines += [
        f"data cut-off {summary.data_cutoff}: {followed}",
        f"adverse events {summary.adverse_events} ({summary.serious_adverse_events} serious); "
        f"deviations {summary.deviations}; open queries {summary.open_queries}",
        f"visits on the cut-off date: {summary.visits_due} due, {summary.visits_overdue} overdue",
        "SYNTHETIC DATA for demonstration only: never analyse as evidence.",
    ]
    extra = [
        f"protocol {summary.protocol_id}; {summary.provenance}" if summary.protocol_id else "",
        f"note: {summary.illustrative_note}" if summary.illustrative_note else "",
        ("verified: " + "; ".join(summary.verification)) if summary.verification else "",
    ]
    return "\n".join(lines + [line for line in extra if line])


class _Run:
    def __init__(
        self,
        study: Study,
        rng: np.random.Generator,
        cutoff: dt.date,
        profile: Profile,
        target: int,
    ) -> None:
        self.study = study
        self.engine = study.engine
        self.protocol = study.protocol
        self.rng = rng
        self.cutoff = cutoff
        self.profile = profile
        self.target = target
        self.site_id = 0
        self.actors: dict[str, Actor] = {}
        self.tally: dict[int, Tally] = {}
        self.enrolled_on: dict[int, dt.date] = {}
        self.investigator_password = DEMO_PASSWORDS[INVESTIGATOR]

    @property
    def investigator(self) -> Actor:
        return self.actors[INVESTIGATOR]

    @property
    def radiologist(self) -> Actor:
        return self.actors[RADIOLOGIST]

    @property
    def embryologist(self) -> Actor:
        return self.actors[EMBRYOLOGIST]

    @property
    def monitor(self) -> Actor:
        return self.actors[MONITOR]

    def execute(self, size: int) -> None:
        self._team()
        pool = [
            candidate
            for candidate in self.profile.population(self.protocol, self.rng, size)
            if _date(candidate.items["screening_date"]) <= self.cutoff
        ]
        inputs = [
            CandidateInput(candidate_ref=c.ref, items=cast(Items, c.items), site_id=self.site_id)
            for c in pool
        ]
        records = screen_many(self.study, self.actors[COORDINATOR], inputs)
        for candidate, record, arm in self._enrolments(pool, records):
            with contextlib.suppress(PastCutoff):  # consent after the cut-off: still to come
                participant_id = self._enrol(candidate, record, arm)
                Follow(self, participant_id, arm, candidate).run()
        self._monitoring()

    def _team(self) -> None:
        """The investigator sets the new database up, then adds her site's team; everyone signs
        in once."""
        (name, full_name, role), *others = TEAM
        site = SiteInput(code=self.profile.site_code, name=self.profile.site_name)
        member = TeamMember(
            username=name, full_name=full_name, role=role, password=DEMO_PASSWORDS[name]
        )
        self.actors[name] = set_up_study(self.study, site, member)
        self.site_id = 1
        for name, full_name, role in others:
            member = TeamMember(
                username=name,
                full_name=full_name,
                role=role,
                password=DEMO_PASSWORDS[name],
                site_id=self.site_id,
            )
            add_user(self.study, self.actors[INVESTIGATOR], member)
            self.actors[name] = sign_in(self.study, name, DEMO_PASSWORDS[name])

    def by_cutoff(self, on: dt.date) -> dt.date:
        """`on`, or stop recording (raise PastCutoff) when it lies after the data cut-off."""
        if on > self.cutoff:
            raise PastCutoff
        return on

    def _places(self) -> Counter[str]:
        """Places per arm: the enrolment shared out, the first arms taking any remainder."""
        arms = [arm.id for arm in self.protocol.arms]
        per_arm, extra = divmod(self.target, len(arms))
        return Counter({arm: per_arm + (index < extra) for index, arm in enumerate(arms)})

    def _enrolments(
        self, pool: list[Candidate], records: list[ScreeningRecord]
    ) -> list[tuple[Candidate, ScreeningRecord, str]]:
        """Who is enrolled, in screening order, and in which arm (randomized: by chance among
        the arms open to her; otherwise by her preference), up to each arm's places."""
        places = self._places()
        randomized = self.protocol.design.allocation.upper() == "RANDOMIZED"
        filled: Counter[str] = Counter()
        chosen = []
        for candidate, record in zip(pool, records, strict=True):
            if record.decision.value != "eligible" or self.rng.random() < fx.P_DECLINES_CONSENT:
                continue
            open_arms = [a for a in record.eligible_arms if filled[a] < places[a]]
            arm = (
                self._by_chance(open_arms) if randomized else self._preferred(candidate, open_arms)
            )
            if arm is not None:
                filled[arm] += 1
                chosen.append((candidate, record, arm))
        return chosen

    def _by_chance(self, open_arms: list[str]) -> str | None:
        return str(self.rng.choice(open_arms)) if open_arms else None

    def _preferred(self, candidate: Candidate, open_arms: list[str]) -> str | None:
        """Her preferred arm (one giving cells, or one that does not) if open, else the first
        open arm in the protocol's order."""
        cells = arms_with_cells(self.protocol)
        order = [arm.id for arm in self.protocol.arms]
        liked = [a for a in order if (a in cells) == candidate.prefers_cells]
        for arm in (*liked[:1], *order):
            if arm in open_arms:
                return arm
        return None

    def _enrol(self, candidate: Candidate, record: ScreeningRecord, arm: str) -> int:
        screened_on = _date(candidate.items["screening_date"])
        consent_on = self.by_cutoff(screened_on + dt.timedelta(days=int(self.rng.integers(0, 5))))
        consent = ConsentInput(
            screening_id=record.screening_id,
            form_version="v1.1 (2025-08-20)",
            consent_date=consent_on,
            taken_by=COORDINATOR,
        )
        coordinator = self.actors[COORDINATOR]
        participant_id = record_consent(self.study, coordinator, consent)
        enrolment = EnrolmentInput(screening_id=record.screening_id, enrolled_on=consent_on)
        enrol(self.study, coordinator, enrolment)
        randomized = self.protocol.design.allocation.upper() == "RANDOMIZED"
        basis = (
            "randomized (synthetic allocation)"
            if randomized
            else self.profile.allocation_basis.get(arm, "participant preference")
        )
        allocation = AllocationInput(
            participant_id=participant_id, arm=arm, basis=basis, allocated_on=consent_on
        )
        allocate(self.study, self.actors[INVESTIGATOR], allocation)
        self.enrolled_on[participant_id] = consent_on
        return participant_id

    def _monitoring(self) -> None:
        """A monitor's source-data queries on data not yet signed off: some answered and
        closed, some left open."""
        pages = participants(self.study, self.actors[MONITOR])
        ids = sorted(page.participant_id for page in pages if not page.locked)
        if not ids:
            return
        picks = self.rng.choice(ids, size=min(4, len(ids)), replace=False)
        for index, participant_id in enumerate(sorted(int(p) for p in picks)):
            text = "Consent form version on file differs from the CRF? Please verify."
            query = QueryInput(
                entity="participants", row_id=participant_id, field="status", text=text
            )
            query_id = open_query(self.study, self.actors[MONITOR], query)
            if index % 2 == 0:
                answer = QueryAnswer(query_id=query_id, answer="verified: v1.1")
                answer_query(self.study, self.actors[COORDINATOR], answer)
                if index == 0:
                    close_query(self.study, self.actors[MONITOR], QueryClosure(query_id=query_id))


def _verify(engine: Engine, run: _Run) -> tuple[str, ...]:
    """Check what was built: the audit trail re-walks intact; every participant's records, as
    the read side shows them, are those the run wrote; each transfer's outcome derives."""
    chain = verify_audit_chain(engine)
    if not chain.ok:
        raise DemoError(f"the demo's audit trail does not verify: {chain}")
    pages = participants(run.study, run.monitor)
    for page in pages:
        wrote = run.tally.get(page.participant_id, Counter())
        shown = {name: getattr(page.counts, name) for name in VERIFIED_COUNTS}
        shown["transfers"] = page.counts.transfers + page.counts.cancelled_transfers
        shown["cycles"] = len(page.cycles)
        wanted = {name: wrote[name] for name in shown}
        if shown != wanted:
            raise DemoError(
                f"participant {page.study_id}: the read side shows {shown}, the run wrote {wanted}"
            )
    transfers = [t for page in pages for t in page.transfers if not t.cancelled]
    for transfer in transfers:
        pregnancy_outcome(run.study, run.monitor, transfer.transfer_id)
    measured, derived = _measures(run, [page.participant_id for page in pages])
    checks = [
        "audit trail intact",
        f"the records of all {len(pages)} participants read back as written",
        f"{len(transfers)} transfer outcomes derived",
    ]
    if run.protocol.outcome_measures:
        checks.append(f"{measured} measurements read back, {derived} measure outcomes derived")
    return tuple(checks)


def _measures(run: _Run, participant_ids: list[int]) -> tuple[int, int]:
    """Her outcome measures as the read side derives them: every value the run recorded is
    there, and an outcome is derived wherever its values are."""
    if not run.protocol.outcome_measures:
        return 0, 0
    measured = derived = 0
    for participant_id in participant_ids:
        views = outcome_measures(run.study, run.monitor, participant_id, on=run.cutoff)
        values = {
            (v.event_id, view.item) for view in views for v in view.values if v.value is not None
        }
        wrote = run.tally.get(participant_id, Counter())["measurements"]
        if len(values) != wrote:
            raise DemoError(
                f"participant {participant_id}: {wrote} measurements recorded, "
                f"{len(values)} read back"
            )
        for view in views:
            if not any(v.value is None for v in view.values) and view.result is None:
                raise DemoError(
                    f"participant {participant_id}: measure '{view.measure_id}' has its values "
                    "but no outcome derived"
                )
            derived += view.result is not None
        measured += len(values)
    return measured, derived


def _summary(run: _Run, seed: int, elapsed_s: float) -> DemoSummary:
    """The run as its monitor reads it, through the read side (the counts of her site)."""
    study, reader, cutoff = run.study, run.monitor, run.cutoff
    protocol = study.protocol
    decisions = Counter(e.decision.value for e in screening_log(study, reader))
    board = dashboard(study, reader, on=cutoff)
    arms = {a.arm: a.count for a in board.enrolled_by_arm if a.count}
    pages = participants(study, reader)
    transfers = [(page.arm, t) for page in pages for t in page.transfers]
    events = adverse_events(study, reader)
    pregnancies: Counter[str] = Counter({arm.id: 0 for arm in protocol.arms})
    births: Counter[str] = Counter({arm.id: 0 for arm in protocol.arms})
    for arm, transfer in transfers:
        outcome = pregnancy_outcome(study, reader, transfer.transfer_id)
        pregnancies[str(arm)] += bool(outcome.clinical_pregnancy)
        births[str(arm)] += bool(outcome.live_birth)
    withdrawn = board.total("withdrawn")
    return DemoSummary(
        seed=seed,
        data_cutoff=cutoff,
        screened=sum(decisions.values()),
        decisions=dict(sorted(decisions.items())),
        enrolled_by_arm=dict(sorted(arms.items())),
        withdrawn=withdrawn,
        procedures=sum(page.counts.procedures for page in pages),
        transfers=sum(not t.cancelled for _, t in transfers),
        cancelled_transfers=sum(t.cancelled for _, t in transfers),
        clinical_pregnancies_by_arm=dict(sorted(pregnancies.items())),
        live_births_by_arm=dict(sorted(births.items())),
        in_follow_up=sum(arms.values()) - withdrawn - len(transfers),
        adverse_events=len(events),
        serious_adverse_events=sum(e.serious for e in events),
        deviations=sum(page.counts.deviations for page in pages),
        open_queries=board.total("open_queries"),
        visits_due=board.total("visits_due"),
        visits_overdue=board.total("visits_overdue"),
        elapsed_seconds=round(elapsed_s, 2),
        protocol_id=protocol.protocol_id,
        has_transfers=protocol.role_event(EventRole.embryo_transfer) is not None,
        procedure_word=run.profile.procedure_word,
        provenance=run.profile.provenance,
    )
