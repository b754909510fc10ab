"""Code lists: labels are plain strings in the reader's language, the code itself when unknown,
and the Literal types, choices and labels all come from one declaration."""

from __future__ import annotations

import typing

import pytest
from pydantic import BaseModel, ValidationError

from assets.codes import LIFECYCLE, VENDOR_ORIGIN
from secgov import catalog
from secgov.codes import MLPS_LEVEL, SECTOR

pytestmark = pytest.mark.nodb


def test_labels_are_strings_in_both_languages():
    assert SECTOR.label("transport", "en") == "Transport"
    zh = SECTOR.label("transport", "zh")
    assert type(zh) is str and zh != "Transport"
    assert type(MLPS_LEVEL.label(3, "en")) is str
    assert SECTOR.label("atlantis", "en") == "atlantis"
    assert SECTOR.label(None, "en") == ""
    assert LIFECYCLE.label("operational", "en") == "In operation"
    assert LIFECYCLE.label("operational", "zh") == "运行中"  # translated by the message catalogue


def test_one_declaration_gives_the_type_the_choices_and_the_labels():
    class Thing(BaseModel):
        origin: VENDOR_ORIGIN.literal

    assert typing.get_args(Thing.model_fields["origin"].annotation) == VENDOR_ORIGIN.codes
    assert Thing(origin="foreign").origin == "foreign"
    with pytest.raises(ValidationError):
        Thing(origin="martian")
    assert [code for code, _label in VENDOR_ORIGIN.choices("en")] == list(VENDOR_ORIGIN.codes)
    assert SECTOR.codes == tuple(item["code"] for item in catalog.sectors())


def test_the_shared_label_table_cannot_be_changed_by_a_caller():
    table = SECTOR.labels("en")
    assert table["transport"] == "Transport"
    with pytest.raises(TypeError):
        table["transport"] = "Boats"  # type: ignore[index]
    assert type(SECTOR.label("transport", "en")) is str
