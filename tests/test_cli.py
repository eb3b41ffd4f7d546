import pytest

from bot.cli import main


def test_version_prints(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert "alliance-bot" in capsys.readouterr().out
