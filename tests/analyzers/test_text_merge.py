"""Near-duplicate readings of one on-screen string are merged; different strings, and numbers, are not."""

from analyzers.ocr import TextLine
from analyzers.text_merge import merge_near_duplicates, near_duplicates


def _line(text: str, score: float = 0.9, y: int = 10) -> TextLine:
    return TextLine(text, score, (10, y, 100, 20))


def _texts(merged):
    return [[m.text for m in lines] for lines in merged]


def test_near_duplicates_are_letters_apart_not_digits_and_not_short_words():
    assert near_duplicates("Casteliano", "Castellano") and near_duplicates("EXIT  only", "exit only")
    assert near_duplicates("Größte Übersicht für Bäcker", "Größte Ubersicht für Bäcker")
    assert not near_duplicates("00:03", "00:04")  # a ticking clock
    assert not near_duplicates("Gate B12 closed", "Gate B13 closed")  # another number
    assert not near_duplicates("Hase", "Hose")  # short words: equal or different
    assert not near_duplicates("Castellano", "Catalan")


def test_readings_of_one_string_in_a_second_become_the_reading_seen_most():
    merged = merge_near_duplicates([[_line("Castellano", 0.8), _line("Casteliano", 0.95), _line("Castellano", 0.7)]])
    assert _texts(merged) == [["Castellano"]]
    assert merged[0][0].read == "Casteliano" and merged[0][0].score == 0.95  # the most confident reading, kept


def test_a_misreading_in_a_neighbouring_second_takes_the_text_of_the_run():
    seconds = [
        [_line("Castellano"), _line("Exit only", y=50)],
        [_line("Castellano"), _line("Exit only", y=50)],
        [_line("Casteliano"), _line("Exit only", y=50)],
        [],
        [_line("Casteliano")],  # a new run after a second without it: its own reading
    ]
    assert _texts(merge_near_duplicates(seconds)) == [
        ["Castellano", "Exit only"],
        ["Castellano", "Exit only"],
        ["Castellano", "Exit only"],
        [],
        ["Casteliano"],
    ]


def test_a_clock_and_different_strings_stay_apart():
    seconds = [[_line("00:03"), _line("Example Movie")], [_line("00:04"), _line("Example Movie")]]
    assert _texts(merge_near_duplicates(seconds)) == [["00:03", "Example Movie"], ["00:04", "Example Movie"]]
    assert _texts(merge_near_duplicates([[_line("Castellano"), _line("Catalan")]])) == [["Castellano", "Catalan"]]
