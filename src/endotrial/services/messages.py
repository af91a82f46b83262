"""The English messages of the services' errors, keyed by their stable code.

A message names what was wrong and what to do; `{name}` placeholders take the error's parameters
(lists are shown comma-separated, dates as YYYY-MM-DD). A translation (the web's catalogues)
keys on the same code and placeholders, so nothing here changes for a new language.
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Mapping
from typing import Any

MESSAGES: dict[str, str] = {
    # --- signing in, roles and sites
    "auth.not_signed_in": (
        "this operation needs a signed-in team member: sign in (your session is unknown, has "
        "expired or was signed out)"
    ),
    "auth.bad_credentials": (
        "the username or password is wrong (or the account is deactivated): check both and "
        "sign in again"
    ),
    "auth.throttled": (
        "too many failed sign-ins for '{username}': wait {minutes} minutes, or ask an "
        "investigator to unblock the account (after checking who tried)"
    ),
    "auth.no_account": "'{username}' has no account and may not {operation}: {who_may}",
    "auth.deactivated": (
        "the account '{username}' ({role}) is deactivated and may not {operation}: {who_may}"
    ),
    "auth.role": "'{username}' ({role}) may not {operation}: {who_may}",
    "auth.needs_role": "{doing} needs an active {role}; '{username}' is not one",
    "auth.other_site": (
        "'{username}' works at site(s) {their_sites} and may not work on {what} of site {site}: "
        "ask that site's team"
    ),
    "auth.site_required": (
        "say which site the {what} belongs to (site_id): '{username}' works at every site"
    ),
    "auth.which_site": (
        "say which site the {what} belongs to (site_id): '{username}' works at sites {their_sites}"
    ),
    "auth.central_only": (
        "only a central investigator (one attached to no site) may {doing}: '{username}' works "
        "at site(s) {their_sites}"
    ),
    "change.reason_required": (
        "{what}: data already entered change only with a reason for the audit trail (e.g. "
        "'transcription error, source document p.3'); give one and save again"
    ),
    "setup.done": (
        "this database already has accounts: sign in as an investigator to add sites and the team"
    ),
    "study.other_protocol": (
        "this database runs protocol {held} (format {held_format}, content sha256 "
        "{held_sha256:.16}…, recorded {recorded_at}), not the protocol given ({given}, content "
        "sha256 {given_sha256:.16}…): open it with the protocol file it was set up with "
        "(`endotrial db status` shows which), or use another database for this protocol; a "
        "changed protocol needs an amendment, which this release cannot record"
    ),
    "setup.first_account": (
        "the first account must be an investigator's, not a {role}'s: create the investigator "
        "first; she then adds the team"
    ),
    "site.time_zone": (
        "time_zone '{time_zone}' is not an IANA time-zone name: give one such as "
        "'Asia/Shanghai' or 'Europe/Paris'"
    ),
    "site.code_taken": "site code '{code}' is taken (codes ignore case): choose another",
    "account.not_found": "no account '{username}' at your site(s): check the username",
    "account.already": "the account '{username}' is already {state}",
    "membership.central": (
        "'{username}' is central staff and works at every site already: give her sites only to "
        "a site's team member"
    ),
    "membership.already": "'{username}' already works at site {site}",
    "membership.not_member": "'{username}' does not work at site {site}: check the site",
    "membership.last_site": (
        "site {site} is the only site of '{username}': add her new site first, or deactivate "
        "the account (without a site she would work at every site)"
    ),
    "account.last_investigator": (
        "'{username}' is the last active investigator: add or reactivate another investigator first"
    ),
    # --- consent, enrolment, allocation
    "consent.taker": (
        "taken_by '{taken_by}' is not an active coordinator or investigator of the candidate's "
        "site: give the username of the person who took the consent"
    ),
    "consent.no_site": (
        "candidate {candidate} was screened without a site (before sites were required): "
        "screen her again at her site, then record the consent"
    ),
    "enrolment.not_eligible": (
        "candidate {candidate} is not eligible (latest screening: {decision}; failed {failed}, "
        "unknown {unknown}): she cannot be enrolled"
    ),
    "enrolment.lapsed": (
        "candidate {candidate} no longer meets {lapsed} on {enrolled_on} (screened "
        "{screened_on}; the windows run to enrolment; problems: {problems}): repeat what has "
        "lapsed and screen her again"
    ),
    "enrolment.unreadable": (
        "candidate {candidate}'s screened values cannot be read again ({problem}): screen her again"
    ),
    "enrolment.before_screening": (
        "enrolment date {enrolled_on} is before her screening ({screened_on}): check the date"
    ),
    "enrolment.no_consent": (
        "candidate {candidate} has no signed consent on record (inclusion 1): record the "
        "consent before enrolling her"
    ),
    "enrolment.before_consent": (
        "enrolment date {enrolled_on} is before her consent ({consent_date}): consent comes "
        "first; check both dates"
    ),
    "enrolment.already": "participant {study_id} is already enrolled",
    "enrolment.target_reached": (
        "the enrolment target of {target} participants is reached: no one more can be enrolled "
        "unless the protocol is amended"
    ),
    "allocation.not_enrolled": (
        "participant {study_id} is '{status}': only an enrolled participant without an arm can "
        "be allocated"
    ),
    "allocation.no_screening": "participant {study_id} has no screening on record",
    "allocation.arm_closed": (
        "arm '{arm}' is closed to participant {study_id} by criteria {closing} (failed, or not "
        "yet recorded: e.g. an iodine allergy rules out the uterine-artery procedure, and an "
        "allergy test not recorded keeps it closed): allocate her to one of {open_arms}, or "
        "screen her again with the missing item"
    ),
    # --- cycles, medication, procedures
    "cycle.already": (
        "participant {study_id} already has a {cycle} cycle: a cycle starts once (if its date "
        "was wrong, correct it with a reason)"
    ),
    "cycle.earlier_first": "start the {earlier} cycle before the {cycle} cycle",
    "cycle.overlaps": (
        "the {cycle} cycle cannot start on {start_date}: her {earlier} cycle started on "
        "{earlier_start}, and cycles follow one another"
    ),
    "medication.doses": (
        "doses_taken {doses_taken} must lie between 0 and {doses_planned} ({per_day} a day for "
        "{days} day(s)) for {regimen}"
    ),
    "medication.not_in_arm": "regimen {regimen} is not part of arm '{arm}'",
    "medication.no_cycle": "start the {cycle} cycle before recording {regimen}",
    "procedure.not_in_arm": (
        "procedure '{procedure}' is not one of arm '{arm}' of participant {study_id}: name one "
        "of {known}"
    ),
    "procedure.pre_check_unknown": (
        "pre-checks {ids} are not pre-checks of procedure {procedure}: use {known}"
    ),
    "procedure.pre_check_missing": (
        "pre-check '{check}' ({id}) has no result: record one of {results}; the procedure "
        "cannot be recorded without it"
    ),
    "procedure.pre_check_code": (
        "pre-check '{check}' result '{given}' is not one of its coded results {results}: "
        "record the result exactly as coded"
    ),
    "procedure.blocked": (
        "the procedure cannot be recorded as given: {problems}. The protocol allows no "
        "override of these: record an adverse event, a deviation or a withdrawal as appropriate"
    ),
    "procedure.needs_override": (
        "the procedure cannot be recorded as given: {problems}. An investigator may override "
        "with a reason that says why (override_reason)"
    ),
    "procedure.no_cycle": "start the {cycle} cycle before recording the procedure {procedure}",
    "procedure.time_off_date": (
        "{field} {moment} is not on the procedure's date {date}: check both"
    ),
    "procedure.no_lot": (
        "give the cell product's lot (cell_lot): an infused product must be traceable"
    ),
    "procedure.once": ("participant {study_id} already had {procedure} on {done_on} ({frequency})"),
    "procedure.not_in_cycle": (
        "procedure {procedure} is not given in the '{cycle}' cycle: the protocol gives it in "
        "{cycles}; name one of them (cycle)"
    ),
    "procedure.other_cycle": (
        "{field} '{cycle}' is not the cycle of event_id '{event}' (given in the {event_cycle} "
        "cycle): give one of them, or the same in both"
    ),
    "procedure.done_in_cycle": (
        "participant {study_id} already had {procedure} in the {cycle} cycle, on {done_on}: it "
        "is given once in each of {cycles}; name another cycle"
    ),
    "procedure.all_given": (
        "participant {study_id} already had {procedure} {count} times, once in each of "
        "{cycles}, as often as the protocol gives it (the last on {done_on})"
    ),
    "procedure.no_cells": (
        "arm '{arm}' gives procedure {procedure} without cells (a vehicle control): leave "
        "{fields} out"
    ),
    # --- scans, transfers, outcomes
    "scan.unknown_event": (
        "event_id '{event}' is not an event of the protocol's schedule: use one of {known}"
    ),
    "visit.not_in_schedule": (
        "{field} '{event}' is not an event of arm '{arm}''s schedule (participant {study_id}): "
        "use one of {known}, or leave it out for an unscheduled visit"
    ),
    "visit.wrong_kind": (
        "{field} '{event}' is a {kind} event, not one of {kinds}: use one of {known}, or leave "
        "it out for an unscheduled visit"
    ),
    "visit.no_date": "{field} '{event}' is given without its date: give the date too",
    "visit.other_procedure": (
        "{field} '{event}' is not the procedure being recorded ('{procedure}'): give one of "
        "them, or the same in both"
    ),
    "visit.no_such_event": (
        "event_id '{event}' is not an event of arm '{arm}''s schedule (participant {study_id}): "
        "record one of {known}"
    ),
    "visit.recorded_elsewhere": (
        "event_id '{event}' is a {kind} event, recorded by {service}, not as a visit: record it "
        "there (a visit record is for {known})"
    ),
    "visit.already": (
        "participant {study_id} already has '{event}' recorded (visits #{row_id}, "
        "{visit_date}): correct that record instead of recording it again"
    ),
    "measurement.no_such_event": (
        "event_id '{event}' is not an event of arm '{arm}''s schedule (participant {study_id}): "
        "the protocol asks for measurements at {known}"
    ),
    "measurement.not_asked": (
        "the protocol asks for no '{item}' at '{event}' (no outcome measure names it there): "
        "record one of {asked} at this event, or the item at the event its measure names"
    ),
    "measurement.already": (
        "participant {study_id} already has '{item}' measured at '{event}' (measurements "
        "#{row_id}, {measured_date}): correct that value (correct_measurement, with a reason) "
        "instead of recording it again"
    ),
    "medication.period_form": (
        "give the period as first_day and last_day (or the older taken_on with days), not both "
        "forms: {problem}"
    ),
    "medication.period_too_long": (
        "{first_day} to {last_day} is {days} days, longer than {regimen}'s {regimen_days} days "
        "({regimen_text}): check the dates"
    ),
    "transfer.no_cycle": (
        "record the start of her {cycle} cycle (on or before the transfer) first"
    ),
    "transfer.already": "participant {study_id} already has a transfer",
    "transfer.cancelled_with_embryos": "a cancelled transfer has no embryos: remove the grades",
    "transfer.no_grades": "give the Gardner grade of each embryo transferred (e.g. '4AB')",
    "transfer.embryo_day": "embryo_day {day}: blastocysts are day 5 or 6",
    "outcome.cancelled_transfer": (
        "the transfer was cancelled: no pregnancy facts can follow it ({field} given); check "
        "the transfer id"
    ),
    "outcome.birth_date_weeks": (
        "birth_date {date} is at {weeks} weeks of gestation: a delivery is possible only from "
        "{boundary} weeks (the protocol's loss boundary) to {latest} weeks; before the boundary "
        "record it as loss_date; otherwise check the date"
    ),
    "outcome.loss_date_weeks": (
        "loss_date {date} is at {weeks} weeks of gestation: a pregnancy lost from {boundary} "
        "weeks on is a delivery (record birth_date and live_born_count 0); check the date"
    ),
    "outcome.too_many": (
        "{field} {count} after {embryos} embryo(s) transferred is impossible (at most {most}): "
        "check the count"
    ),
    # --- safety
    "ae.grade_serious": "a grade {grade} event is life-threatening or fatal: mark it serious",
    "ae.fatal_outcome": (
        "a grade 5 event is a death: its outcome is 'fatal', not '{outcome}'; correct the grade "
        "or the outcome"
    ),
    "ae.onset_moment": (
        "onset_at {onset_at} is not on the onset date {onset_date}: correct one of them"
    ),
    "deviation.site_mismatch": (
        "site_id is not the participant's site: leave it out (her site is used) or correct it"
    ),
    "withdrawal.not_enrolled": (
        "participant {study_id} is '{status}': only an enrolled participant can be withdrawn (once)"
    ),
    # --- queries and sign-off
    "query.not_open": "query #{query_id} is {status}: only open queries can be answered",
    "query.closed": "query #{query_id} is already closed",
    "query.unanswered": (
        "query #{query_id} has no answer yet: the site answers it first (only who raised it, "
        "{opened_by}, may withdraw it unanswered, with a reason)"
    ),
    "input.language": "language '{language}' is not offered: choose one of {known}",
    "lock.already": "participant {study_id} is already locked",
    "signature.password": (
        "the password is not right for '{username}': the signature needs your own password "
        "again (too many wrong ones block your sign-ins for a while)"
    ),
    "lock.not_locked": "participant {study_id} is not locked",
    "lock.open_queries": (
        "participant {study_id} has unresolved queries {queries}: answer and close them before "
        "signing off her data"
    ),
    # --- identity
    "identity.no_person": (
        "participant {study_id} has no screening at a site to attach her identity to: screen "
        "her at her site first"
    ),
    "identity.erased": "participant {study_id}'s identity is already erased",
    # --- corrections
    "correction.unknown_kind": "there is no kind of record '{kind}' to correct: use one of {kinds}",
    "correction.elsewhere": "{kind} records are not corrected field by field: {how}",
    "correction.unknown_field": (
        "{kind} records have no correctable field '{name}': correct one of {fields}"
    ),
    "correction.not_correctable": "{kind}.{name} cannot be corrected: {why}",
    "correction.unchanged": (
        "{kind} #{row_id} {field} is already {value}: nothing to correct (check the record id)"
    ),
    "correction.not_applicable": "{kind}.{name} cannot be corrected here: {why}",
    "import.too_many_rows": (
        "{path} has more than {most} candidates: one import stores at most {most} (in one "
        "transaction); split the file"
    ),
    "import.unknown_column": (
        "column '{column}' is not a data item of protocol {protocol}: rename it to the item's "
        "name (`endotrial protocol items`) or remove it"
    ),
    "import.value": "{message}",
    # --- input shape
    "input.invalid": "{what}: {problems}",
    "dry_run.unsupported": (
        "{operation} writes outside an operation's transaction and cannot be dry-run: nothing "
        "was written"
    ),
    "input.wrong_type": "{what} must be a {expected}, not {given}: build it with {expected}(...)",
    "input.unknown_items": (
        "candidate {candidate}: {items} are not data items of protocol {protocol}{hint}: use the "
        "protocol's item names (`endotrial protocol items`); nothing was stored"
    ),
    "input.candidate_values": (
        "candidate {candidate}: {problems}; correct these items and screen again (nothing was "
        "stored)"
    ),
    "input.reason_required": (
        "{what} needs a reason that says what happened and why (e.g. 'transcription error, "
        "source document p.3'): '{given}' says too little"
    ),
    "input.password_short": (
        "the password must have at least {minimum} characters (a passphrase of several words "
        "is easiest to remember)"
    ),
    "input.password_like_username": "the password must not contain the username",
    "input.username_form": (
        "username '{username}' must be 2-64 characters: letters, digits, '.', '_' or '-', "
        "starting with a letter or digit"
    ),
    "input.username_taken": (
        "username '{username}' is taken (usernames ignore case: '{existing}' exists): choose "
        "another"
    ),
    # --- records
    "record.not_found": "no {table} record #{row_id}: check the id and retry",
    "record.locked": (
        "participant {study_id} is locked (signed off by {locked_by} on {locked_on}): ask an "
        "investigator to unlock her data, with a reason"
    ),
    "record.withdrawn": (
        "participant {study_id} withdrew on {withdrawn_on}: nothing of the trial is given to "
        "her any more (and nothing is recorded when she refused further use of her data); "
        "record an adverse event if one occurred"
    ),
    "record.no_arm": "participant {study_id} has no arm yet: enrol and allocate her first",
    "record.no_table": "no trial table '{entity}': use one of {tables}",
    "record.no_field": "table '{entity}' has no field '{name}': use one of {fields}",
    "protocol.unknown": "protocol {protocol} has no {kind} '{name}': use one of {known}",
    # --- dates
    "date.future": (
        "{field} {date} is in the future: record it once it has happened (check the year)"
    ),
    "date.before_trial": (
        "{field} {date} is before the trial could have begun (its start {start} less a year): "
        "check the year"
    ),
    "date.before_enrolment": (
        "{field} {date} is before participant {study_id} was enrolled ({enrolled_on}): check "
        "the date"
    ),
    "date.before_consent": (
        "{field} {date} is before participant {study_id} consented ({consent_date}): an event "
        "before consent is medical history, not an adverse event of the trial; check the date"
    ),
    "date.before_transfer": (
        "{field} {date} is before her embryo transfer ({transfer_date}): check the date"
    ),
    "date.no_time_zone": (
        "{field} {moment} has no time zone: give it (e.g. +08:00) so it is stored right"
    ),
    "date.end_before_start": "{end_field} {end} is before {start_field} {start}: check both",
    "number.not_finite": "{field} {value} is not a number: enter the measured value",
    "number.negative": "{field} {value} is negative: enter the measured value ({unit})",
}


class _Formatter(string.Formatter):
    """Lists as 'a, b', dates as ISO, whole floats without '.0'."""

    def format_field(self, value: Any, format_spec: str) -> str:
        if not format_spec:
            return _plain(value)
        return str(super().format_field(value, format_spec))


def _plain(value: Any) -> str:
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return ", ".join(_plain(v) for v in items) or "none"
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="minutes")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


_FORMATTER = _Formatter()


def render(code: str, params: Mapping[str, Any]) -> str:
    """The English message of `code` with its parameters filled in."""
    return _FORMATTER.vformat(MESSAGES[code], (), dict(params))


def fill(template: str, params: Mapping[str, Any]) -> str:
    """A message template filled as `render` fills the English one (for a translation of it:
    the web's catalogues)."""
    return _FORMATTER.vformat(template, (), dict(params))


def placeholders(code: str) -> set[str]:
    """The parameter names the message of `code` uses (for the catalogue's tests)."""
    return {name for _, name, _, _ in string.Formatter().parse(MESSAGES[code]) if name}
