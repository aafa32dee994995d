import pytest

from support.words import word_error_rate


def test_word_error_rate_counts_substitutions_insertions_and_deletions():
    assert word_error_rate("die neue Bäckerei", "Die neue Bäckerei.") == 0.0
    assert word_error_rate("die neue Bäckerei", "die neue BKI") == pytest.approx(1 / 3)
    assert word_error_rate("die neue Bäckerei", "die Bäckerei am Markt") == pytest.approx(3 / 3)
