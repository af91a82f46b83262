"""The analysis dataset contract: the column dictionary and validate_frames' messages."""

import pandas as pd
import pytest

from endotrial.analysis.dataset import ANALYSIS_TABLES, column_dictionary, validate_frames
from endotrial.errors import InputError


def test_a_well_formed_dataset_passes(analysis_frames: dict[str, pd.DataFrame]) -> None:
    validate_frames(analysis_frames)


def test_column_dictionary_documents_every_column() -> None:
    dictionary = column_dictionary()
    assert set(dictionary["table"]) == {*ANALYSIS_TABLES, "screenings"}
    assert (dictionary["description"].str.len() > 10).all()
    thickness = dictionary.set_index(["table", "column"]).loc[("participants", "thickness_mm")]
    assert thickness["unit"] == "mm" and thickness["kind"] == "float"


def test_every_problem_is_reported_at_once_naming_table_column_and_rows(
    analysis_frames: dict[str, pd.DataFrame],
) -> None:
    frames = dict(analysis_frames)
    frames["participants"] = frames["participants"].drop(columns=["site"])
    events = frames["adverse_events"].copy()
    events.loc[2, "ctcae_grade"] = 7
    events.loc[3, "related_cells"] = "maybe"
    frames["adverse_events"] = events
    embryos = frames["embryos"].copy()
    embryos["expansion"] = embryos["expansion"].astype(float) + 0.5
    frames["embryos"] = embryos
    with pytest.raises(InputError) as caught:
        validate_frames(frames)
    message = str(caught.value)
    assert "table participants, column site: missing" in message
    assert "table adverse_events, column ctcae_grade: above 5 in rows 2" in message
    assert "column related_cells: values ['maybe'] in rows 3 are not one of" in message
    assert "table embryos, column expansion: holds float64 values, expected whole numbers" in (
        message
    )


def test_missing_values_duplicate_keys_and_orphans_are_refused(
    analysis_frames: dict[str, pd.DataFrame],
) -> None:
    frames = dict(analysis_frames)
    participants = frames["participants"].copy()
    participants["in_safety_set"] = participants["in_safety_set"].astype("boolean")
    participants.loc[4, "in_safety_set"] = pd.NA
    frames["participants"] = participants
    with pytest.raises(InputError, match="in_safety_set: missing in rows 4"):
        validate_frames(frames)
    frames["participants"] = analysis_frames["participants"]
    events = frames["adverse_events"].copy()
    events.loc[1, "ae_id"] = "AE1"
    frames["adverse_events"] = events
    with pytest.raises(InputError, match=r"key \(ae_id\) repeated in rows 0, 1"):
        validate_frames(frames)
    events = analysis_frames["adverse_events"].copy()
    events.loc[0, "participant_id"] = "NOBODY"
    frames["adverse_events"] = events
    with pytest.raises(InputError, match="name participants not in the participants table"):
        validate_frames(frames)


def test_missing_and_unknown_tables_are_named(analysis_frames: dict[str, pd.DataFrame]) -> None:
    frames = {k: v for k, v in analysis_frames.items() if k != "embryos"}
    frames["visits"] = pd.DataFrame()
    with pytest.raises(InputError) as caught:
        validate_frames(frames)
    assert "table embryos: missing" in str(caught.value)
    assert "unknown table(s) visits" in str(caught.value)
