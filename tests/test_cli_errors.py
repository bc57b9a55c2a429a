"""The command line's documented error table, walked row by row through the real CLI.

The table lives in the README ("Bad input"); every row is run here as a
``python -m segue`` subprocess in a folder of real files (a symlink to
``/proc/self/mem`` whose reads fail, an immutable folder, small tmpfs mounts, a
file the user ``nobody`` cannot read), and must end with the row's exit code,
exactly the row's ``segue:`` lines on stderr, and no traceback.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer

from segue.cli import SegueGroup, _empty_argument, app
from segue.config import OTHER_VARIABLES, Settings, unknown_variables
from segue.errors import ConfigError, InputError
from segue.listener import LANGUAGES, listener_from_dict, read_listener

README = Path(__file__).parents[1] / "README.md"
NOBODY = 65534
#: A fault injected into the analysis, for the row that stands for a bug.
INJECTED = (
    "import segue.analysis.executor as ex\n"
    "def boom(*args, **kwargs):\n"
    "    raise RuntimeError('injected fault')\n"
    "ex.analyze_paths = boom\n"
    "from segue.cli import app\n"
    "app(prog_name='segue')\n"
)


@dataclass(frozen=True)
class Row:
    """One row of the README's error table."""

    case: str
    env: dict[str, str]
    args: list[str]
    lines: list[str]
    exit_code: int


def _cell(text: str) -> str:
    return text.strip().strip("`")


def _row(line: str) -> Row:
    case, command, stderr, code = (c.strip() for c in line.strip().strip("|").split(" | "))
    words = shlex.split(_cell(command))
    env = {}
    while "=" in words[0]:
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    assert words.pop(0) == "segue", command
    return Row(case, env, words, [_cell(part) for part in stderr.split("⏎")], int(code))


def readme_rows() -> list[Row]:
    """The rows of the table under the README's "Bad input" heading."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Bad input\n"):]
    section = section[: section.index("\n### ")]
    lines = [ln for ln in section.splitlines() if ln.startswith("| ")]
    assert lines[0].startswith("| case | command |"), "the error table lost its header"
    return [_row(ln) for ln in lines[1:]]


ROWS = readme_rows()


def _pattern(expected: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in expected.split("…")))


PROFILES = {
    "broken.toml": "name =\n",
    "likes.toml": 'likes = "x"\n',
    "artists.toml": '[likes]\nartists = "Muldjord"\n',
    "talk.toml": 'talk = "chaty"\n',
    "enabled.toml": '[personalisation]\nenabled = "yes"\n',
    "typo.toml": 'likez = ["Muldjord"]\n',
    "klingon.toml": 'language = "klingon"\n',
    "me.toml": 'name = "Robin"\n',
    "proc.toml": '[personalisation]\nfeedback = "/proc/segue.jsonl"\n',
    "folder.toml": '[personalisation]\nfeedback = "empty"\n',
    "corrupt.toml": 'name = "Kim"\n',
}


@dataclass
class Stage:
    """The folder the rows run in, and what this machine could not set up."""

    root: Path
    cache: Path
    missing: dict[str, str]


def _segue(args: list[str], cwd: Path, env: dict[str, str], prefix: list[str] | None = None,
           code: str | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    base = {k: v for k, v in os.environ.items() if not k.startswith("SEGUE_")}
    src = str(Path(__file__).parents[1] / "src")
    base["PYTHONPATH"] = os.pathsep.join([src, base.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    launch = ["-c", code] if code else ["-m", "segue"]
    return subprocess.run([*(prefix or []), sys.executable, *launch, *args], cwd=cwd,
                          env={**base, **env}, capture_output=True, text=True, timeout=600,
                          check=False)  # fmt: skip


def _read_only(folder: Path) -> str | None:
    """Make ``folder`` refuse new files (immutable for root); why not, when it cannot."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return None
    if not shutil.which("chattr"):
        return "running as root without chattr: no folder refuses root"
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
    return None if done.returncode == 0 else f"chattr +i failed: {done.stderr.strip()}"


def _mount_tmpfs(folder: Path, size: str) -> str | None:
    """Mount a small tmpfs on ``folder``; why not, when this machine cannot."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        return "mounting a small filesystem needs root"
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, text=True)  # fmt: skip
    return None if done.returncode == 0 else f"cannot mount tmpfs: {done.stderr.strip()}"


def _build(root: Path, synth_set: dict[str, Path]) -> dict[str, str]:
    """The files every row expects; returns why a case cannot be set up, by case."""
    missing: dict[str, str] = {}
    shutil.copy(synth_set["alpha"], root / "song.flac")
    shutil.copy(synth_set["alpha"], root / "copy.flac")
    shutil.copy(synth_set["charlie"], root / "other.flac")
    shutil.copy(synth_set["bravo"], root / "secret.flac")
    (root / "secret.flac").chmod(0)
    (root / "notes.mp3").write_text("definitely not audio\n" * 50)
    (root / "broken.mp3").symlink_to("/proc/self/mem")  # reads fail: EIO
    for folder in ("empty", "songs.mp3", "locked", "full", "small", "cache"):
        (root / folder).mkdir()
    for name, text in PROFILES.items():
        (root / name).write_text(text)
    (root / "corrupt.feedback.jsonl").write_text("garbage\n")
    (root / "broken.json").write_text("{")
    (root / "weird.json").write_text("[1]")
    why = _read_only(root / "locked")
    if why:
        missing["read-only folder"] = why
    for case, folder, size in (("disk full before the render", "full", "64k"),
                               ("disk fills up during the render", "small", "1200k")):
        why = _mount_tmpfs(root / folder, size)
        if why:
            missing[case] = why
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        missing["input unreadable: permission"] = "root reads every file, and no setpriv"
    return missing


def _tear_down(root: Path) -> None:
    for folder in ("full", "small"):
        if os.path.ismount(root / folder):
            subprocess.run(["umount", str(root / folder)], check=False)
    if os.geteuid() == 0 and shutil.which("chattr"):
        subprocess.run(["chattr", "-i", str(root / "locked")], capture_output=True, check=False)
    (root / "locked").chmod(0o755)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def stage(synth_set: dict[str, Path]) -> Iterator[Stage]:
    """A world-readable folder (the user ``nobody`` runs one row) with every file the rows name."""
    root = Path(tempfile.mkdtemp(prefix="segue-errors-"))
    root.chmod(0o755)
    try:
        missing = _build(root, synth_set)
        cache = root / "cache"
        done = _segue(["analyze", "song.flac", "other.flac", "--json"], root,
                      {"SEGUE_CACHE_DIR": str(cache)})  # fmt: skip
        assert done.returncode == 0, done.stderr
        (root / "features.json").write_text(done.stdout)
        yield Stage(root, cache, missing)
    finally:
        _tear_down(root)


def _run_row(row: Row, stage: Stage) -> subprocess.CompletedProcess[str]:
    env = {"SEGUE_CACHE_DIR": str(stage.cache), **row.env}
    if row.case.startswith("a bug"):
        return _segue(row.args, stage.root, env, code=INJECTED)
    if row.case == "input unreadable: permission" and os.geteuid() == 0:
        # Root reads every file: run this row as nobody, with a cache and home of its own.
        own = Path(tempfile.mkdtemp(prefix="cache-", dir=stage.root))
        own.chmod(0o777)
        env.update(SEGUE_CACHE_DIR=str(own), HOME=str(own))
        prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        return _segue(row.args, stage.root, env, prefix=prefix)
    return _segue(row.args, stage.root, env)


@pytest.mark.slow
@pytest.mark.parametrize("row", ROWS, ids=[r.case for r in ROWS])
def test_error_table_row(row: Row, stage: Stage) -> None:
    if row.case in stage.missing:
        pytest.skip(stage.missing[row.case])
    done = _run_row(row, stage)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("segue:")]
    assert len(lines) == len(row.lines), done.stderr
    for line, expected in zip(lines, row.lines, strict=True):
        assert _pattern(expected).fullmatch(line), (line, expected)
    assert done.returncode == row.exit_code, done.stderr


def test_the_table_covers_what_the_brief_lists() -> None:
    cases = " ".join(r.case for r in ROWS)
    for needed in ("/proc", "/sys", "device", "read-only", "a folder as output",
                   "parent is a file", "missing input", "unreadable", "output is an input",
                   "not TOML", "unknown profile key", "unknown language", "setting",
                   "feedback", "plan", "a bug"):  # fmt: skip
        assert needed in cases, needed
    assert {r.exit_code for r in ROWS} == {0, 1, 2}
    assert len({r.case for r in ROWS}) == len(ROWS), "two rows share a name"


@pytest.mark.slow
def test_a_bug_shows_its_traceback_only_with_verbose(stage: Stage) -> None:
    env = {"SEGUE_CACHE_DIR": str(stage.cache)}
    quiet = _segue(["analyze", "song.flac"], stage.root, env, code=INJECTED)
    loud = _segue(["--verbose", "analyze", "song.flac"], stage.root, env, code=INJECTED)
    assert quiet.returncode == loud.returncode == 2
    assert "Traceback" not in quiet.stderr
    assert "Traceback" in loud.stderr and "RuntimeError: injected fault" in loud.stderr
    assert "segue: unexpected error: RuntimeError: injected fault" in loud.stderr


@pytest.mark.slow
def test_nothing_is_left_behind_by_refused_outputs(stage: Stage) -> None:
    for folder in ("locked", "songs.mp3", "empty"):
        assert not [p for p in (stage.root / folder).iterdir() if p.name.startswith(".")]
    assert not list(Path("/proc").glob(".segue-probe.*"))
    assert stat.S_IMODE((stage.root / "secret.flac").stat().st_mode) == 0


# ----------------------------------------------------------------- profiles and settings


def test_profile_values_of_the_wrong_type_name_the_key(tmp_path: Path) -> None:
    cases = {
        'likes = "x"': "likes must be a table, [likes] with artists and genres (got a string)",
        "likes = 3": "likes must be a table, [likes] with artists and genres (got a number)",
        "[likes]\ngenres = [1]": "likes.genres must be a list of strings (got a number in it)",
        "recent = true": "recent must be a list of strings (got true/false)",
        "name = []": "name must be a string (got a list)",
        "language = 2": "language must be a string such as 'en' (got a number)",
        "[personalisation]\nfeedback = 3": "personalisation.feedback must be a file name",
        f'name = "{"R" * 300}"': "name is 300 characters long; the DJ says it aloud, so at most 40",
    }
    profile = tmp_path / "me.toml"
    for text, message in cases.items():
        profile.write_text(text + "\n")
        with pytest.raises(InputError) as caught:
            read_listener(profile)
        assert str(caught.value).startswith(f"{profile}: {message}"), (text, caught.value)


def test_a_name_with_control_characters_is_said_on_one_line() -> None:
    listener = listener_from_dict({"name": "\x01Robin\x07\n  Smith "}, source="me.toml")
    assert listener.name == "Robin Smith"
    assert listener_from_dict({"name": " \t"}, source="me.toml").name is None


def test_unknown_keys_are_warned_with_the_nearest_known_one() -> None:
    problems: list[str] = []
    listener = listener_from_dict(
        {"nmae": "Sam", "likes": {"artist": ["A"], "genres": ["jazz"]}, "zzz": 1},
        source="me.toml", problems=problems,
    )  # fmt: skip
    assert problems == [
        "me.toml: nmae: unknown key, ignored (did you mean name?)",
        "me.toml: zzz: unknown key, ignored",
        "me.toml: likes.artist: unknown key, ignored (did you mean likes.artists?)",
    ]
    assert listener.liked_genres == ("jazz",) and listener.name is None


@pytest.mark.parametrize(("given", "code", "warned"), [
    ("en", "en", False), ("DE", "de", False), ("en-GB", "en", False), ("pt_BR", "pt", False),
    ("French", "fr", False), ("klingon", "en", True), ("Germn", "en", True), ("", "en", True),
])  # fmt: skip
def test_languages_are_codes_segue_speaks_or_english(given: str, code: str, warned: bool) -> None:
    problems: list[str] = []
    listener = listener_from_dict({"language": given}, source="me.toml", problems=problems)
    assert listener.language == code
    assert bool(problems) == warned
    if given == "Germn":
        assert "did you mean de, German?" in problems[0]


def test_the_listener_languages_are_the_ones_the_narration_checks() -> None:
    from segue.narration.context import LANGUAGE_NAMES
    from segue.narration.guards import STOPWORDS

    assert set(LANGUAGES) == set(LANGUAGE_NAMES) == set(STOPWORDS)


@pytest.mark.parametrize(("name", "raw", "message"), [
    ("SEGUE_TARGET_LUFS", "loud", "expected a number"),
    ("SEGUE_TARGET_LUFS", "inf", "expected a finite number"),
    ("SEGUE_TARGET_LUFS", "5", "must be from -70 to 0"),
    ("SEGUE_SEED", "1.5", "expected a whole number"),
    ("SEGUE_ALIGN_BY_EAR", "maybe", "expected true or false"),
    ("SEGUE_ANALYSIS_JOBS", "-2", "must be at least 0"),
    ("SEGUE_LLM_TIMEOUT_S", "0", "must be at least 0.1"),
    ("SEGUE_WEIGHT_KEY", "-1", "must be at least 0"),
])  # fmt: skip
def test_bad_setting_values_name_the_variable(name: str, raw: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: raw})
    assert str(caught.value) == f"{name}={raw!r}: {message}"


def test_settings_that_contradict_each_other_are_refused() -> None:
    with pytest.raises(ConfigError, match="SEGUE_MIN_CROSSFADE_S=20 is longer than"):
        Settings.from_env({"SEGUE_MIN_CROSSFADE_S": "20"})
    ok = Settings.from_env({"SEGUE_TARGET_LUFS": " -16 ", "SEGUE_ALIGN_BY_EAR": "off"})
    assert (ok.target_lufs, ok.align_by_ear) == (-16.0, False)


def test_unknown_variables_are_named_with_the_nearest_setting() -> None:
    env = {"SEGUE_TARGET_LUF": "-16", "SEGUE_CACHE_DIR": "/x", "SEGUE_SEED": "1",
           "SEGUE_QWERTY": "1", "HOME": "/root"}  # fmt: skip
    assert unknown_variables(env) == [
        "SEGUE_QWERTY: unknown setting, ignored",
        "SEGUE_TARGET_LUF: unknown setting, ignored (did you mean SEGUE_TARGET_LUFS?)",
    ]


def test_every_segue_variable_in_the_code_is_known() -> None:
    """A ``SEGUE_*`` name read anywhere in src/ is a setting or listed in OTHER_VARIABLES."""
    src = Path(__file__).parents[1] / "src"
    names = {m for f in src.rglob("*.py")
             for m in re.findall(r"SEGUE_[A-Z0-9_]*[A-Z0-9]\b", f.read_text(encoding="utf-8"))}
    unknown = unknown_variables(dict.fromkeys(names, "1"))
    assert unknown == [], "add these to Settings or config.OTHER_VARIABLES"
    assert set(OTHER_VARIABLES) <= names


@contextlib.contextmanager
def _chdir(path: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def test_output_checks_refuse_special_places(tmp_path: Path) -> None:
    from segue.errors import OutputError
    from segue.mixing.encode import check_output_path

    (tmp_path / "song.flac").write_bytes(b"x")
    (tmp_path / "songs.mp3").mkdir()
    expected = {
        "/proc/mix.mp3": "cannot create files in /proc",
        "/dev/full": "is a device or other special file",
        "songs.mp3": "is a folder, expected a file name",
        "song.flac/mix.mp3": "song.flac is a file, not a folder",
        "ok.mp3": None,
        "song.flac": "is one of the inputs",
        "mix": "unsupported output format (none)",
        "": ".: is a folder, expected a file name",  # an empty -o is the current folder
        "..": "..: is a folder, expected a file name",
        "/": "/: is a folder, expected a file name",
    }
    with _chdir(tmp_path):
        for out, message in expected.items():
            if message is None:
                check_output_path(Path(out), [Path("song.flac")])
                continue
            with pytest.raises(OutputError, match=re.escape(message)):
                check_output_path(Path(out), [Path("song.flac")])
        with pytest.raises(OutputError, match=r"song\.json: is one of the inputs"):
            check_output_path(Path("song.mp3"), [Path("song.json")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.flac", "songs.mp3"]


@pytest.mark.parametrize(("argv", "position"), [
    (["analyze", ""], 2),
    (["-v", ""], 2),  # after a flag an empty word is no option's value
    (["-v", "analyze", "--json", ""], 4),  # the subcommand's flags count too
    (["analyze", "--no-cache", "song.flac", ""], 4),
    (["render", "song.flac", "-o", ""], None),  # an option's value may be empty
    (["render", "song.flac", "--listener=", "-o", "x.mp3"], None),
    (["prompts", "list", ""], 3),
])
def test_empty_arguments_are_told_from_empty_values(argv: list[str], position: int | None
                                                    ) -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, SegueGroup)
    assert _empty_argument(argv, root) == position
