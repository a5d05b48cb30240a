"""Every contest folder is a baked template: same stage scripts, a valid config, a features.py."""
from pathlib import Path

import pytest

from common.config import load_config
from tests.conftest import REPO

TEMPLATE = REPO / "templates" / "{{cookiecutter.competition_slug}}"
CONTESTS = sorted(p for p in (REPO / "competitions").iterdir() if (p / "config.yaml").is_file())


def test_there_are_contests():
    assert "steam" in {c.name for c in CONTESTS}


@pytest.mark.parametrize("contest", CONTESTS, ids=lambda p: p.name)
def test_contest_is_a_baked_template(contest: Path):
    load_config(contest / "config.yaml")
    assert (contest / "features.py").is_file() and (contest / "data" / "raw").is_dir()
    template_stages = sorted(p.name for p in (TEMPLATE / "stages").iterdir())
    assert sorted(p.name for p in (contest / "stages").iterdir()) == template_stages
    for name in template_stages:  # contests never fork the wiring: logic belongs in common/
        assert (contest / "stages" / name).read_text() == (TEMPLATE / "stages" / name).read_text(), name
