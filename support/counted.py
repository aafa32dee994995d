"""A model part (an OCR engine's detector or recognizer) that counts what it is given, for tests and benches."""

from collections.abc import Callable


class Counted:
    """Calls `part` and adds `measure(given)` to `count` (lines: `len`; pixels: the image's area)."""

    def __init__(self, part, measure: Callable = len):
        self.part, self.measure, self.count, self.calls = part, measure, 0, []

    def __call__(self, given):
        self.count += self.measure(given)
        self.calls.append(self.measure(given))
        return self.part(given)

    def __getattr__(self, name):
        return getattr(self.part, name)
