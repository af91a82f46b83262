"""Issue 10: the eligibility engine's own value messages said in the reader's language. The
engine is made to write every kind it has (on a form's field and on a file's row); each must be
read back into its code and values, and said in Chinese with the value kept as typed."""

import datetime as dt
from pathlib import Path

import pytest

from endotrial.eligibility import screen_candidate, stream_file
from endotrial.protocol import load_protocol
from endotrial.web import i18n
from endotrial.web.engine_messages import (
    MAX_READ_CHARS,
    MAX_READ_PARTS,
    PROBLEM_MESSAGES,
    read_joined,
    read_message,
)

TODAY = dt.date(2026, 3, 2)
#: One bad value of each kind on the screening form (values as typed: text).
FORM_VALUES = {
    "screening_date": "2026-03-01",
    "weight_kg": "abc",
    "afc": "3.5",
    "height_cm": "50",
    "platelets_1e9_l": "5000",
    "hydrosalpinx": "maybe",
    "serology_date": "2025-02-30",
    "hiv_ab": "unknown",
    "normal_cavity_hysteroscopy_date": "1850-06-01",
    "birth_date": "1990-01-01",
    "age_years": "20",  # 36 by her birth date
}


def _form_messages() -> tuple[str, ...]:
    protocol = load_protocol(None)
    return screen_candidate(protocol, FORM_VALUES, today=TODAY).errors


def _file_messages(tmp_path: Path) -> list[str]:
    """Rows of a CSV: a date after screening, a blank id, a repeated id, a ragged row, a
    screening in the future, an age computed from her birth date that cannot be."""
    lines = [
        "candidate_id,screening_date,last_other_trial_date,weight_kg,birth_date",
        "C1,2026-03-01,2026-03-02,60,",
        ",2026-03-01,,60,",
        "C1,2026-03-01,,60,",
        "C4,2026-03-01,,60,,extra",
        "C5,2026-03-09,,60,",
        "C6,2026-03-01,,60,1901-01-01",
    ]
    path = tmp_path / "candidates.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    protocol = load_protocol(None)
    messages: list[str] = []
    for batch in stream_file(protocol, path, today=TODAY):
        for row in batch.to_pylist():
            messages += row["errors"] or []
    return messages


def test_every_kind_of_value_message_the_engine_writes_is_read_back(tmp_path: Path) -> None:
    written = [*_form_messages(), *_file_messages(tmp_path)]
    codes = set()
    for message in written:
        coded = read_message(message)
        assert coded is not None, f"not read back: {message!r}"
        codes.add(coded.code)
    assert codes == set(PROBLEM_MESSAGES), f"never written: {set(PROBLEM_MESSAGES) - codes}"


#: Bad values tried in every item's column: whatever the engine says of them must be read back.
BAD_VALUES = ("abc", "3.5", "-1e9", "1e9", "maybe", "1800-01-01", "2999-01-01", "2026-02-30",
              "nan", "inf", "'; x: '", "")  # fmt: skip


def test_whatever_the_engine_says_of_a_bad_value_in_any_column_is_read_back(
    tmp_path: Path,
) -> None:
    """Every item's column given each bad value in turn (a row each, the screening date set):
    a phrasing of the engine without a template here fails, not only the kinds listed above.
    Birth dates far back and ahead make the age computed from them impossible."""
    protocol = load_protocol(None)
    names = [i.name for i in protocol.data_items if i.name != "screening_date"]
    lines = [",".join(["candidate_id", "screening_date", *names])]
    for column in range(len(names)):
        for number, bad in enumerate(BAD_VALUES):
            cells = [""] * len(names)
            cells[column] = '"' + bad.replace('"', '""') + '"'
            lines.append(",".join([f"C{column}-{number}", "2026-03-01", *cells]))
    for birth in ("1901-01-01", "2026-02-01", "2030-01-01"):
        cells = [birth if n == "birth_date" else "" for n in names]
        lines.append(",".join([f"B{birth}", "2026-03-01", *cells]))
    path = tmp_path / "every.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    written = [
        message
        for batch in stream_file(protocol, path, today=TODAY)
        for row in batch.to_pylist()
        for message in row["errors"] or []
    ]
    assert len(written) > 100
    unread = [m for m in written if read_message(m) is None]
    assert unread == []
    assert "engine.impossible" in {read_message(m).code for m in written}  # type: ignore[union-attr]


def test_a_value_message_is_said_in_chinese_with_the_value_as_typed(tmp_path: Path) -> None:
    written = [*_form_messages(), *_file_messages(tmp_path)]
    for message in written:
        said = i18n.engine_message(message, "zh_Hans")
        assert said != message, message
        assert not any(word in said for word in (" is not ", "correct", "row ")), said
    by_item = {m.partition(": ")[0]: m for m in _form_messages()}
    assert i18n.engine_message(by_item["weight_kg"], "zh_Hans") == (
        "weight_kg：'abc' 不是数字：请更正；如不知道请留空"
    )
    assert i18n.engine_message(by_item["height_cm"], "zh_Hans") == (
        "height_cm：'50' 低于最小值 100 cm：请更正该值"
    )
    rows = [m for m in _file_messages(tmp_path) if m.startswith("row 1, column")]
    assert [i18n.engine_message(m, "zh_Hans") for m in rows] == [
        "第 1 行，列 last_other_trial_date：'2026-03-02' 晚于 screening_date 2026-03-01（是未来"
        "的日期）：请更正日期"
    ]


@pytest.mark.parametrize(
    "message",
    [
        "weight_kg: 'abc' is not a number",  # a phrase cut short
        "weight_kg: 'abc' is not a number; correct it, or leave it blank if not known!",
        "not an item name: 'abc' is not a whole number; correct it",
        "row x, column afc: '3.5' is not a whole number; correct it",
        "a row: 3 fields where the header has 4, so ...",
        "something else entirely",
        "",
    ],
)
def test_a_message_that_is_not_the_engines_is_shown_as_written(message: str) -> None:
    assert read_message(message) is None
    assert i18n.engine_message(message, "zh_Hans") == message


def test_joined_messages_are_read_one_by_one_and_the_value_may_hold_the_separator() -> None:
    first = "afc: '3; 4' is not a number; correct it, or leave it blank if not known"
    second = "hiv_ab: 'x' is not one of negative, positive; correct the value"
    found = read_joined(f"{first}; {second}")
    assert found is not None
    assert [(c.code, c.params["value"]) for c in found] == [
        ("engine.not_number", "3; 4"),
        ("engine.not_allowed", "x"),
    ]
    assert read_joined(f"{first}; and something else") is None
    said = i18n.engine_message(f"{first}; {second}", "zh_Hans")
    assert said == (
        "afc：'3; 4' 不是数字：请更正；如不知道请留空; "
        "hiv_ab：'x' 不是 negative, positive 之一：请更正该值"
    )


def test_english_readers_get_the_engines_words_unchanged(tmp_path: Path) -> None:
    for message in [*_form_messages(), *_file_messages(tmp_path)]:
        assert i18n.engine_message(message, "en") == message


@pytest.mark.parametrize(
    "value",
    [
        "; " * 1990,  # many separators in one value
        "; afc: " * 600,  # many seeming starts of another message
        ("' disagrees with  computed from ; correct one of them, or leave " * 60)[:3900],
        "': " * 1300,
    ],
)
def test_a_hostile_value_is_read_back_or_shown_as_written(value: str) -> None:
    """What a user types is at most 4,000 characters a field: whatever it holds, its message
    is said in Chinese or shown as written, and the reading stays linear in its length (each
    template's values but the typed one cannot stretch over "; " or a quote)."""
    message = f"afc: '{value}' is not a number; correct it, or leave it blank if not known"
    said = i18n.engine_message(message, "zh_Hans")
    assert said == message or said.startswith("afc：'")


def test_too_long_or_too_many_messages_are_shown_as_written() -> None:
    one = "afc: 'x' is not a number; correct it, or leave it blank if not known"
    assert read_joined("; ".join([one] * (MAX_READ_PARTS + 1))) is None
    long_value = "y" * MAX_READ_CHARS
    assert read_joined(f"afc: '{long_value}' is not a whole number; correct it") is None
    assert read_joined("; ".join([one] * MAX_READ_PARTS)) is not None
