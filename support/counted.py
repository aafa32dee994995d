"""A model part (an OCR engine's detector or recognizer) that counts what it is given, for tests and benches."""

from collections.abc import Callable


class Counted:
    """Calls `part`, keeping `measure(given)` of each call in `calls` (lines: `len`; pixels: the image's area)."""

    def __init__(self, part, measure: Callable = len):
        self.part, self.measure, self.calls = part, measure, []

    @property
    def count(self):
        return sum(self.calls)

    def __call__(self, given):
        self.calls.append(self.measure(given))
        return self.part(given)

    def __getattr__(self, name):
        return getattr(self.part, name)
