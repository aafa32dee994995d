"""Model specs: one TOML file, clear errors, a code version that follows every field."""

import pytest

from resources.model_specs import MODELS_ENV, ModelSpec, ModelSpecError, load_model_specs

DESCRIBE = """
[describe]
model = "/models/Qwen2-VL-7B-Instruct"
dtype = "bfloat16"
quantization = "8bit"
prompt_version = "v1"
memory_budget_gb = 40

[describe.options]
max_window_s = 16
overlap_s = 1
"""


def test_the_projects_models_file_loads_and_configures_no_vlm():
    # No weights ship with the project: describe stays commented out in models.toml.
    assert "describe" not in load_model_specs()


def test_a_section_becomes_a_spec_and_its_options(tmp_path, monkeypatch):
    path = tmp_path / "models.toml"
    path.write_text(DESCRIBE)
    monkeypatch.setenv(MODELS_ENV, str(path))
    spec = load_model_specs()["describe"]
    assert spec == ModelSpec(
        name="describe",
        model="/models/Qwen2-VL-7B-Instruct",
        dtype="bfloat16",
        quantization="8bit",
        prompt_version="v1",
        memory_budget_gb=40,
        options={"max_window_s": 16, "overlap_s": 1},
    )
    assert spec.trust_remote_code is False and spec.memory_budget_bytes == 40 * 1024**3


def test_code_version_is_stable_and_changes_with_every_field(tmp_path):
    path = tmp_path / "models.toml"
    path.write_text(DESCRIBE)
    spec = load_model_specs(path)["describe"]
    reordered = ModelSpec(
        name="describe",
        model=spec.model,
        dtype="bfloat16",
        quantization="8bit",
        prompt_version="v1",
        memory_budget_gb=40,
        options={"overlap_s": 1, "max_window_s": 16},
    )
    assert reordered.code_version() == spec.code_version() and len(spec.code_version()) == 12
    changes = [
        dict(model="/models/other"),
        dict(revision="abc123"),
        dict(dtype="float16"),
        dict(quantization="4bit"),
        dict(prompt_version="v2"),
        dict(memory_budget_gb=20),
        dict(trust_remote_code=True),
        dict(options={"max_window_s": 8}),
    ]
    versions = {ModelSpec(**{**spec.as_dict(), **change}).code_version() for change in changes}
    assert len(versions) == len(changes) and spec.code_version() not in versions


def test_a_caller_editing_its_options_dict_does_not_change_a_spec():
    options = {"max_window_s": 16}
    spec = ModelSpec(name="describe", model="m", options=options)
    before = spec.code_version()
    options["max_window_s"] = 2
    assert spec.code_version() == before


@pytest.mark.parametrize(
    "text, problem",
    [
        ('[describe]\ndtype = "bfloat16"\n', "needs 'model'"),
        ('[describe]\nmodel = "m"\ndtype = "int3"\n', "dtype 'int3' is not one of"),
        ('[describe]\nmodel = "m"\nquantization = "2bit"\n', "quantization '2bit'"),
        ('[describe]\nmodel = "m"\nmemory_budget_gb = 0\n', "memory_budget_gb must be positive"),
        ('[describe]\nmodel = "m"\nwindow = 3\n', "unknown keys window"),
        ('[describe]\nmodel = "m"\nmodel = "n"\n', "not valid TOML"),
        ('describe = "m"\n', "must be a table"),
        ('[describe]\nmodel = "m"\ntrust_remote_code = "yes"\n', "trust_remote_code must be true or false"),
        ('[describe]\nmodel = "m"\noptions = 3\n', "options must be a table"),
    ],
)
def test_bad_spec_files_fail_naming_the_file_and_the_problem(tmp_path, text, problem):
    path = tmp_path / "models.toml"
    path.write_text(text)
    with pytest.raises(ModelSpecError) as err:
        load_model_specs(path)
    assert str(path) in str(err.value) and problem in str(err.value)


def test_a_models_file_named_explicitly_must_exist(tmp_path, monkeypatch):
    with pytest.raises(ModelSpecError, match="model spec file not found"):
        load_model_specs(tmp_path / "absent.toml")
    monkeypatch.setenv(MODELS_ENV, str(tmp_path / "absent.toml"))
    with pytest.raises(ModelSpecError, match=r"absent\.toml"):
        load_model_specs()
