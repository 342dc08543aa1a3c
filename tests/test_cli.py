"""The `cew` command line: every command documents itself and rejects bad arguments clearly."""

from click.testing import CliRunner

from orchestration.cli import cli


def test_every_command_has_help():
    runner = CliRunner()
    top = runner.invoke(cli, ["--help"])
    assert top.exit_code == 0
    for command in ("generate", "run", "erase", "bench", "codegen", "settings"):
        result = runner.invoke(cli, [command, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, command


def test_run_rejects_conflicting_day_options(tmp_path, monkeypatch):
    monkeypatch.setenv("CEW_LANDING_DIR", str(tmp_path))  # restored after: `cew run --landing` sets it
    (tmp_path / "landing").mkdir()
    result = CliRunner().invoke(
        cli, ["run", "--landing", str(tmp_path / "landing"), "--date", "2026-03-01", "--from", "2026-03-01"]
    )
    assert result.exit_code == 2 and "either --date or --from/--to" in result.output


def test_run_on_an_empty_landing_folder_explains(tmp_path, monkeypatch):
    monkeypatch.setenv("CEW_LANDING_DIR", str(tmp_path))
    (tmp_path / "landing").mkdir()
    result = CliRunner().invoke(cli, ["run", "--landing", str(tmp_path / "landing")])
    assert result.exit_code == 1 and "no landing files" in result.output


def test_settings_lists_every_variable():
    result = CliRunner().invoke(cli, ["settings"])
    assert result.exit_code == 0 and "CEW_PII_HASH_KEY" in result.output
