from pathlib import Path

import pytest
from pydantic import ValidationError

from crps_qa.docs import render
from crps_qa.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_environment_variables_override_defaults(monkeypatch):
    monkeypatch.setenv("CRPS_QA_INDEX_DIR", "/tmp/other")
    monkeypatch.setenv("CRPS_QA_CHUNK_MAX_WORDS", "80")
    settings = Settings()
    assert settings.index_dir == Path("/tmp/other") and settings.chunk_max_words == 80


def test_invalid_values_are_refused():
    with pytest.raises(ValidationError):
        Settings(chunk_max_words=5)
    with pytest.raises(ValidationError):
        Settings(fusion="max")


def test_every_setting_is_described():
    assert all(field.description for field in Settings.model_fields.values())


def test_readme_settings_table_matches_the_settings_class():
    text = README.read_text(encoding="utf-8")
    assert render(text) == text, "run: python -m crps_qa.docs"
