"""The mutation check's list still fits the code (`make mutation` runs the breakages themselves), and its
copies of the tree run their own code."""

from support.mutation import BREAKAGES, PROJECT, Breakage, Edit, apply, copy_tree, imported_from, snippet_problems


def test_every_breakage_still_applies_to_this_tree_and_names_existing_tests():
    assert snippet_problems() == []
    assert len({b.name for b in BREAKAGES}) == len(BREAKAGES) and all(b.tests for b in BREAKAGES)


def test_code_that_moved_is_reported_instead_of_silently_passing(tmp_path):
    (tmp_path / "module.py").write_text("x = 1\nx = 1\n")
    gone = Breakage("gone", "-", (Edit("module.py", "y = 2", "y = 3"),), ("tests/test_nothing.py::test_none",))
    twice = Breakage("twice", "-", (Edit("module.py", "x = 1", "x = 2"),), ())
    assert snippet_problems(tmp_path, (gone, twice)) == [
        "gone: snippet not found in module.py: 'y = 2'",
        "gone: guarding test tests/test_nothing.py::test_none does not exist",
        "twice: snippet found 2 times in module.py: 'x = 1'",
    ]


def test_a_breakage_changes_only_its_copy_whose_code_is_what_python_imports_there(tmp_path):
    copy = copy_tree(PROJECT, tmp_path / "tree")
    score_check = next(b for b in BREAKAGES if b.name == "score check always passes")
    apply(score_check, copy)
    edit = score_check.edits[0]
    assert edit.replacement in (copy / edit.file).read_text() and edit.snippet not in (copy / edit.file).read_text()
    assert edit.snippet in (PROJECT / edit.file).read_text()  # the real tree is untouched
    assert all(path.startswith(str(copy)) for path in imported_from(copy).values())
