"""The README's two commands: the main job trains what it says on a fresh clone, and the test
command is what CI runs."""

import re
import shlex
from pathlib import Path

from repro.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def readme_command(after: str) -> str:
    block = README.split(after, 1)[1]
    return re.search(r"```bash\n(.*?)\n```", block, re.S).group(1).strip()


def test_the_main_command_trains_what_it_says_on_a_fresh_clone(tmp_path, monkeypatch, capsys):
    command = readme_command("Run the main job")
    run = command.split("&&")[-1].strip()
    assert run.startswith("repro run table1"), command
    args = shlex.split(run)[1:]
    monkeypatch.chdir(tmp_path)  # a fresh clone: the user's folders hold no results yet
    assert main([*args, "--dry-run"]) == 0
    plan = capsys.readouterr().out
    runs = [int(n) for n in re.findall(r"(\d+) to run", plan)]
    assert sum(runs) >= 20 and "0 done" in plan, (
        f"The README's main command must train Table 1 of every paper on a fresh clone:\n{plan}")


def test_tox_cli_runs_the_main_command_exactly():
    run = readme_command("Run the main job").split("&&")[-1].strip()
    tox = (ROOT / "tox.ini").read_text().split("[testenv:cli]", 1)[1].split("\n[", 1)[0]
    assert run in tox.splitlines() or f"    {run}" in tox.splitlines(), (
        f"`tox -e cli` must run the README's main command as written ({run!r}), so that the "
        "command a new user types is the one that is run.")


def test_the_test_command_is_what_ci_runs():
    command = readme_command("Run the tests")
    ci = (ROOT / ".ci" / "run").read_text()
    assert command == "python3 -m pip install tox && tox" and "tox" in ci.split("\n")[-2], (
        "The README's test command and .ci/run must be the same tox run.")
