"""Secret references: exactly one source, resolution, and no value in text output."""

import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from exchange_agent.config import SecretRef
from exchange_agent.errors import ConfigError

SECRET = "Hunter2-Secret"


class TestModel:
    @pytest.mark.parametrize(
        "fields",
        [{}, {"env": "A", "file": "/x"}, {"env": "A", "command": ["pass"]}],
    )
    def test_exactly_one_source(self, fields: dict[str, object]) -> None:
        with pytest.raises(ValidationError, match="give exactly one of env, file or command"):
            SecretRef.model_validate(fields)

    def test_unknown_field_rejected(self) -> None:
        with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
            SecretRef.model_validate({"env": "A", "vault": "x"})

    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            ({"env": "EX_PASSWORD"}, "environment variable EX_PASSWORD"),
            ({"file": "/run/secrets/ex"}, "file /run/secrets/ex"),
            ({"command": ["pass", "show", "ex"]}, "helper command pass"),
        ],
    )
    def test_describe_names_source(self, fields: dict[str, object], expected: str) -> None:
        assert SecretRef.model_validate(fields).describe() == expected


class TestEnvironment:
    def test_from_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("EX_TEST_PASSWORD", SECRET)

        secret = SecretRef(env="EX_TEST_PASSWORD").resolve()

        assert secret.get_secret_value() == SECRET
        assert SECRET not in repr(secret)
        assert SECRET not in str(secret)

    def test_empty_env_value_kept(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("EX_TEST_PASSWORD", "")

        assert SecretRef(env="EX_TEST_PASSWORD").resolve().get_secret_value() == ""

    def test_from_env_file(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        secret_file = tmp_path / "password"
        secret_file.write_text(f"{SECRET}\r\n", encoding="utf-8")
        monkeypatch.delenv("EX_TEST_PASSWORD", raising=False)
        monkeypatch.setenv("EX_TEST_PASSWORD_FILE", str(secret_file))

        secret = SecretRef(env="EX_TEST_PASSWORD").resolve()

        assert secret.get_secret_value() == SECRET

    def test_env_wins_over_env_file(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        secret_file = tmp_path / "password"
        secret_file.write_text("from-file", encoding="utf-8")
        monkeypatch.setenv("EX_TEST_PASSWORD", "from-env")
        monkeypatch.setenv("EX_TEST_PASSWORD_FILE", str(secret_file))

        assert SecretRef(env="EX_TEST_PASSWORD").resolve().get_secret_value() == "from-env"

    def test_env_file_missing(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        absent = tmp_path / "absent"
        monkeypatch.delenv("EX_TEST_PASSWORD", raising=False)
        monkeypatch.setenv("EX_TEST_PASSWORD_FILE", str(absent))

        with pytest.raises(ConfigError) as caught:
            SecretRef(env="EX_TEST_PASSWORD").resolve()

        assert str(caught.value) == (
            f"cannot read secret EX_TEST_PASSWORD_FILE {absent}: No such file or directory"
        )

    def test_missing_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("EX_TEST_PASSWORD", raising=False)
        monkeypatch.delenv("EX_TEST_PASSWORD_FILE", raising=False)

        with pytest.raises(ConfigError) as caught:
            SecretRef(env="EX_TEST_PASSWORD").resolve()

        assert str(caught.value) == (
            "environment variable EX_TEST_PASSWORD is not set (nor EX_TEST_PASSWORD_FILE); "
            "export it before the run"
        )


class TestFile:
    def test_trailing_newlines_dropped(self, tmp_path: Path) -> None:
        secret_file = tmp_path / "password"
        secret_file.write_text(f"  {SECRET} \n\n", encoding="utf-8")

        secret = SecretRef(file=secret_file).resolve()

        assert secret.get_secret_value() == f"  {SECRET} "

    def test_missing_file(self, tmp_path: Path) -> None:
        absent = tmp_path / "absent"

        with pytest.raises(ConfigError) as caught:
            SecretRef(file=absent).resolve()

        assert str(caught.value) == f"cannot read secret file {absent}: No such file or directory"

    def test_directory_instead_of_file(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"^cannot read secret file "):
            SecretRef(file=tmp_path).resolve()


class TestCommand:
    def test_helper_stdout(self) -> None:
        helper = SecretRef(command=(sys.executable, "-c", f"print({SECRET!r})"))

        assert helper.resolve().get_secret_value() == SECRET

    def test_helper_nonzero_exit(self) -> None:
        helper = SecretRef(
            command=(sys.executable, "-c", f"import sys; print({SECRET!r}); sys.exit(3)")
        )

        with pytest.raises(ConfigError) as caught:
            helper.resolve()

        assert str(caught.value) == f"secret helper {sys.executable} exited with status 3"

    def test_helper_not_found(self, tmp_path: Path) -> None:
        program = str(tmp_path / "no-such-helper")

        with pytest.raises(ConfigError) as caught:
            SecretRef(command=(program,)).resolve()

        assert str(caught.value).startswith(f"secret helper {program} failed: ")
        assert "No such file or directory" in str(caught.value)


class TestNoValueInText:
    def test_model_text_has_no_value(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("EX_TEST_PASSWORD", SECRET)
        reference = SecretRef(env="EX_TEST_PASSWORD")

        reference.resolve()

        for text in (repr(reference), str(reference), reference.model_dump_json()):
            assert SECRET not in text
