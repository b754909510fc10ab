"""Catalog labels: plain strings in the reader's language, the code itself when unknown."""

from __future__ import annotations

import pytest

from secgov import catalog


def test_labels_are_strings_in_both_languages():
    assert catalog.label("sector", "transport", "en") == "Transport"
    zh = catalog.label("sector", "transport", "zh")
    assert type(zh) is str and zh != "Transport"
    assert type(catalog.label("mlps_level", 3, "en")) is str
    assert catalog.label("sector", "atlantis", "en") == "atlantis"
    assert catalog.label("sector", None, "en") == ""
    assert catalog.label("no-such-kind", "x", "en") == "x"


def test_the_shared_label_table_cannot_be_changed_by_a_caller():
    table = catalog.labels("sector", "en")
    assert table["transport"] == "Transport"
    with pytest.raises(TypeError):
        table["transport"] = "Boats"  # type: ignore[index]
