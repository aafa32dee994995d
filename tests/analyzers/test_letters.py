"""Fusing two readings of a line: PP-OCR's characters, and from Tesseract's only what PP-OCR cannot write
(marked letters, signs outside its dictionary, lookalike symbols), doubled letters and confident spaces."""

import pytest

from analyzers import ocr
from analyzers.letters import agreement, fuse_readings, plain_forms, restore_letters


@pytest.fixture(scope="module")
def writable():
    """PP-OCRv4's own dictionary: what the first recognizer can write."""
    return ocr.writable_characters(ocr.ocr_engine())


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


SURE = 0.95


@pytest.mark.parametrize(
    "reading, other, confidences, expected",
    [
        # signs PP-OCR's dictionary lacks, read as lookalikes, or left out
        ("@ 2024 Muller GmbH", "© 2024 Müller GmbH", None, "© 2024 Müller GmbH"),
        ("Preis 12,50 pro Stuck", "Preis 12,50 € pro Stück", [SURE] * 5, "Preis 12,50 € pro Stück"),
        ("Noél in Genève", "Noël in Genève", None, "Noël in Genève"),  # ë: a mark PP-OCR cannot write
        # a symbol PP-OCR has but writes as its lookalike: 110° read 1100
        ("Winkel 1100 links", "Winkel 110° links", None, "Winkel 110° links"),
        ("1100", "1 10°", [0.8, 0.9], "110°"),  # ... and no space inside a number
        # spaces PP-OCR lost between confidently read words
        (
            "Kapitel 4.1Einleitung(Teil 2)",
            "Kapitel 4.1 Einleitung (Teil 2)",
            [SURE] * 5,
            "Kapitel 4.1 Einleitung (Teil 2)",
        ),
        (
            "Kapitel 4.1Einleitung(Teil 2)",
            "Kapitel 4.1 Einleitung (Teil 2)",
            [0.6] * 5,
            "Kapitel 4.1Einleitung(Teil 2)",
        ),
        ("www.allee.de", "ww W.allee.de", [0.69, 0.69], "www.allee.de"),  # Tesseract unsure on a hard background
        # capital I and small l: the word decides, when the second recognizer is sure of it
        ("Channel ldent", "Channel Ident", [SURE, SURE], "Channel Ident"),
        ("Channel ldent", "Channel Ident", [SURE, 0.6], "Channel ldent"),
        # a doubled letter a CTC decoder wrote once
        ("www.kafee-alee.de", "www.kaffee-allee.de", None, "www.kaffee-allee.de"),
        # nothing is taken without agreeing neighbours, nor a letter PP-OCR can write
        ("Copyright 0 2013", "Gopyright ©1201 3", [SURE] * 3, "Copyright 0 2013"),
        ("Tor 7 offen", "Tor 1 offen", None, "Tor 7 offen"),
        ("Offnungszeiten", "„Öffnungszeiten", [SURE], "Öffnungszeiten"),  # texture at the edge is no sign
    ],
)
def test_what_the_first_recognizer_cannot_write_comes_from_the_second(writable, reading, other, confidences, expected):
    assert fuse_readings(reading, other, writable, confidences) == expected


def test_without_the_dictionary_only_marks_and_lookalikes_are_taken():
    assert fuse_readings("Preis 12,50 pro", "Preis 12,50 € pro") == "Preis 12,50 pro"
    assert fuse_readings("Winkel 450 links", "Winkel 45° links") == "Winkel 45° links"


def test_wide_and_compatibility_forms_become_plain_characters():
    assert plain_forms("（Teil 2） 21°℃ ﬁnal") == "(Teil 2) 21°C final"
    assert plain_forms("x² ½ ①") == "x² ½ ①"  # super- and subscripts, fractions, circled forms stay


def test_agreement_falls_as_the_readings_part():
    same = agreement("Größte Übersicht", "|Größte Übersicht")  # a band edge read as a letter
    near = agreement("Größte Obersicht fürBacker", "Größte Übersicht für Bacher")
    apart = agreement("Größte Übersicht für Bäcker", "Lwößte Uberva ht fur Bax te")
    assert same > near > apart and near > 0.8 and apart < 0.7
