"""Marked letters (ä ö ü ß é ...) taken from a second reading of a line, and nothing else from it."""

import pytest

from analyzers.letters import agreement, restore_letters


@pytest.mark.parametrize(
    "reading, lettered, expected",
    [
        ("GroBte Ubersicht fur Bäcker", "Größte Übersicht für Bäcker", "Größte Übersicht für Bäcker"),
        ("Offnungszeiten: Mo-Fr 9-18 Uhr", "|öffnungszeiten: Mo-Fr 9-18 Uhr", "Öffnungszeiten: Mo-Fr 9-18 Uhr"),
        ("Jorg Weils, Geschaftsfuhrer", "Jörg Weiß, Geschäftsführer", "Jörg Weiß, Geschäftsführer"),
        ("Gemuse & Obst - frisch", "[Gemüse & Obst - frisch.", "Gemüse & Obst - frisch"),  # no band edges
        ("Cafe Creme", "Café Crème", "Café Crème"),
        ("Bus fahrt", "ßus fahrt", "Bus fahrt"),  # ß never starts a word
        ("Exit only", "EZ only", "Exit only"),  # other differences: the first reading stays
        ("Frühstück", "Fruhstuck", "Frühstück"),  # marks the first reading has are kept
    ],
)
def test_only_the_marked_letters_come_from_the_second_reading(reading, lettered, expected):
    assert restore_letters(reading, lettered) == expected


def test_agreement_falls_as_the_readings_part():
    same = agreement("Größte Übersicht", "|Größte Übersicht")  # a band edge read as a letter
    near = agreement("Größte Obersicht fürBacker", "Größte Übersicht für Bacher")
    apart = agreement("Größte Übersicht für Bäcker", "Lwößte Uberva ht fur Bax te")
    assert same > near > apart and near > 0.8 and apart < 0.7
