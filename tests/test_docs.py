"""The README and docs/ say what the code does: every `bench` command shown parses with bench's own
parser, every relative link and anchor resolves, every suite shown loads (or fails with the error
the page says it does), every CSV column, suite key and command-line option is documented, and
the README stays an overview (at most 170 lines)."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

import bench
from bench.cli import build_parser, main
from bench.errors import BenchError

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS_DIR = ROOT / "docs"
PAGES = [README, *sorted(DOCS_DIR.glob("*.md"))]
README_MAX_LINES = 170
SHELL_LANGS = {"", "bash", "sh", "shell", "console"}
NOT_RUN = "# not run"


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def fenced_blocks(page: Path) -> list[Block]:
    blocks, lang, start, body = [], None, 0, []
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("```"):
            if lang is None:
                lang, start, body = line[3:].strip().lower(), number, []
            else:
                blocks.append(Block(page, start, lang, "\n".join(body)))
                lang = None
        elif lang is not None:
            body.append(line)
    assert lang is None, f"{page.name}: unclosed code fence from line {start}"
    return blocks


def prose(page: Path) -> str:
    """The page without its fenced blocks (links and headings inside code are not links)."""
    kept, inside = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            inside = not inside
            kept.append("")
        else:
            kept.append("" if inside else line)
    return "\n".join(kept)


# ---- commands -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    where: str
    text: str

    @property
    def synopsis(self) -> bool:
        """A usage line (`[--out DIR]`, `eval|train`, `RUN_DIR...`), not a command to run."""
        return any(mark in self.text for mark in ("[", "|", "..."))


def bench_commands() -> list[Command]:
    """Each line of a shell block that starts with `bench `, with its indented continuation
    lines and backslash continuations joined on."""
    found = []
    for page in PAGES:
        for block in fenced_blocks(page):
            if block.lang not in SHELL_LANGS:
                continue
            lines = block.text.splitlines()
            i = 0
            while i < len(lines):
                line = lines[i].removeprefix("$ ")
                if not line.startswith("bench "):
                    i += 1
                    continue
                text, offset = line, i
                while text.rstrip().endswith("\\") or (
                    i + 1 < len(lines) and lines[i + 1][:1].isspace() and lines[i + 1].strip()
                ):
                    i += 1
                    text = text.rstrip().removesuffix("\\") + " " + lines[i].strip()
                where = f"{page.relative_to(ROOT)}:{block.line + offset + 1}"
                found.append(Command(where, text))
                i += 1
    return found


COMMANDS = bench_commands()
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*$")  # SUITE, RUN_DIR, BASE, NEW, ...


def verbs() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def options_of(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def parse(argv: list[str]) -> None:
    """Parse as `bench` does (bench.cli.main): unknown options only for `submit`, which passes
    them on to every shard's `bench run`, so they must parse as `bench run` options."""
    parser = build_parser()
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            args, unknown = parser.parse_known_args(argv)
            if unknown:
                if "run_argv" not in args:
                    parser.error(f"unrecognized arguments: {' '.join(unknown)}")
                parser.parse_args(["run", "suite.toml", *unknown])
    except SystemExit as exc:
        if exc.code == 0 and {"--help", "--version"} & set(argv):
            return  # printed its help or version and stopped, as it should
        shown = f"bench {shlex.join(argv)}"
        pytest.fail(f"`{shown}` does not parse (exit {exc.code}): {stderr.getvalue()}")


def test_the_pages_show_bench_commands() -> None:
    """The extractor finds the commands (a broken extractor would make every test below vacuous)."""
    assert len([c for c in COMMANDS if not c.synopsis]) >= 10
    assert len([c for c in COMMANDS if c.synopsis]) >= 5
    assert {c.where.split(":")[0] for c in COMMANDS} >= {"README.md", "docs/running.md"}


@pytest.mark.parametrize(
    "command",
    [c for c in COMMANDS if not c.synopsis and NOT_RUN not in c.text],
    ids=lambda c: c.where,
)
def test_command_parses(command: Command, tmp_path: Path) -> None:
    words = shlex.split(command.text, comments=True)[1:]
    argv = [str(tmp_path / w.lower()) if PLACEHOLDER.match(w) else w for w in words]
    parse(argv)


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.synopsis], ids=lambda c: c.where)
def test_synopsis_names_real_options(command: Command) -> None:
    """A usage line names an existing verb, and every option it shows exists for that verb."""
    words = command.text.split()
    table = verbs()
    if words[1].startswith("-"):
        known = options_of(build_parser())
    else:
        assert words[1] in table, f"{command.where}: no verb {words[1]!r}"
        known = options_of(table[words[1]])
        if words[1] == "submit":  # passes any `bench run` option on to the shards
            known |= options_of(table["run"])
    shown = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", command.text))
    assert shown - known == set(), f"{command.where}: unknown options {sorted(shown - known)}"


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["--version"]])
def test_cheap_commands_run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """`bench --help` (which the README shows), `bench run --help` and `bench --version` run."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert ("usage: bench" in out) if "--help" in argv else out.startswith("bench ")


def test_every_option_is_documented() -> None:
    """Each option of each verb is named somewhere in the README or docs/."""
    text = "\n".join(page.read_text(encoding="utf-8") for page in PAGES)
    missing = [
        f"bench {verb} {option}"
        for verb, parser in verbs().items()
        for option in sorted(options_of(parser))
        if option.startswith("--") and option != "--help" and option not in text
    ]
    assert missing == []


# ---- links --------------------------------------------------------------------------------

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in prose(page).splitlines():
        if match := re.match(r"^#{1,6} (.+)$", line):
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def links() -> list[tuple[Path, str]]:
    found = []
    for page in PAGES:
        text = re.sub(r"`[^`\n]*`", "", prose(page))  # a link inside code is not a link
        found += [(page, target) for target in LINK.findall(text)]
    return found


def test_slug_matches_github() -> None:
    assert slug("Reading a run: report.md, plots, index.md, the terminal") == (
        "reading-a-run-reportmd-plots-indexmd-the-terminal"
    )
    assert slug("`bench doctor`") == "bench-doctor"
    assert slug("Between runs: the A/A noise floor and history") == (
        "between-runs-the-aa-noise-floor-and-history"
    )


def test_pages_link_to_each_other() -> None:
    assert len(links()) >= 30
    assert all(page in {p for p, _ in links()} for page in PAGES)


@pytest.mark.parametrize(
    ("page", "target"),
    [link for link in links() if not re.match(r"^[a-z]+:", link[1])],
    ids=lambda x: x if isinstance(x, str) else x.name,
)
def test_relative_link_resolves(page: Path, target: str) -> None:
    path, _, anchor = target.partition("#")
    destination = (page.parent / path).resolve() if path else page
    assert destination.exists(), f"{page.name}: {target} -> no {destination}"
    if anchor:
        assert destination.suffix == ".md", f"{page.name}: {target}: an anchor into a non-page"
        assert anchor in anchors(destination), (
            f"{page.name}: {target}: no heading with anchor #{anchor} in {destination.name}; "
            f"it has {sorted(anchors(destination))}"
        )


# ---- the pages' shape -----------------------------------------------------------------------


def test_readme_is_an_overview() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


def test_readme_keeps_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "## Two commands" in text
    for command in ("nox -s bench", "nox -s tests", ".ci/run"):
        assert command in text
    readme = [c.text for c in COMMANDS if c.where.startswith("README.md")]
    assert any(text.startswith("bench --help") for text in readme)


def test_readme_links_every_docs_page() -> None:
    linked = {(README.parent / target.partition("#")[0]).resolve() for _, target in links()}
    assert [p.name for p in PAGES[1:] if p.resolve() not in linked] == []


@pytest.mark.parametrize("page", PAGES[1:], ids=lambda p: p.name)
def test_docs_page_starts_with_a_summary_and_a_way_back(page: Path) -> None:
    lines = page.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# "), f"{page.name}: the first line is not its title"
    head = "\n".join(lines[1:8])
    assert "](../README.md" in head, f"{page.name}: no link back to the README near the top"


def test_every_csv_column_is_documented() -> None:
    from bench.records import COLUMNS

    text = (DOCS_DIR / "columns.md").read_text(encoding="utf-8")
    assert [c for c in COLUMNS if f"`{c}`" not in text] == []


def test_every_suite_key_is_documented() -> None:
    from bench.suite import EXPERIMENT_KEYS, MODEL_KEYS, SUITE_KEYS
    from bench.suite.inputs import INPUT_KEYS

    text = (DOCS_DIR / "suites.md").read_text(encoding="utf-8")
    keys = SUITE_KEYS | MODEL_KEYS | EXPERIMENT_KEYS | INPUT_KEYS
    assert sorted(k for k in keys if f"`{k}`" not in text) == []


# ---- suites -------------------------------------------------------------------------------

INVALID = re.compile(r"^# invalid: (.+)$", re.MULTILINE)


def suite_blocks() -> list[Block]:
    return [
        b
        for page in PAGES
        for b in fenced_blocks(page)
        if b.lang == "toml" and re.search(r"^\[suite\]|^\[\[(models|experiments)\]\]", b.text, re.M)
    ]


def test_the_pages_show_suites() -> None:
    blocks = suite_blocks()
    assert len(blocks) >= 5
    assert any(INVALID.search(b.text) for b in blocks)


@pytest.mark.parametrize("block", suite_blocks(), ids=lambda b: b.where)
def test_suite_block_loads(block: Block, tmp_path: Path) -> None:
    """A suite shown in the docs loads; a fragment (a `[[models]]` table alone) loads under a
    `[suite]` header; the files it names (`models/my_net.py`, a checkpoint) are made for it. A
    block marked `# invalid: MESSAGE` must fail with that message."""
    from bench.suite import expand, load_suite

    if "transformers:" in block.text:
        pytest.importorskip("transformers")
    text = block.text
    if not re.search(r"^\[suite\]", text, re.M):
        text = '[suite]\nname = "docs"\n\n' + text
    for module, function in re.findall(r'factory = "([\w/.-]+\.py):(\w+)"', text):
        (tmp_path / module).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / module).write_text(
            f"import torch\n\n\ndef {function}(**kwargs):\n    return torch.nn.Flatten()\n"
        )
    for checkpoint in re.findall(r'checkpoint = "([^"]+)"', text):
        (tmp_path / checkpoint).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / checkpoint).write_bytes(b"")
    path = tmp_path / "typo.toml"
    path.write_text(text, encoding="utf-8")
    if expected := INVALID.search(block.text):
        with pytest.raises(BenchError) as raised:
            load_suite(path)
        assert expected.group(1).strip() in str(raised.value)
    else:
        suite = load_suite(path)
        assert expand(suite) or suite.experiments, f"{block.where}: the suite has no case"


# ---- the Python API -------------------------------------------------------------------------


def test_python_api_in_readme_exists() -> None:
    """Every `bench.NAME(` the README shows exists, once the API has landed in bench/."""
    shown = {
        name
        for block in fenced_blocks(README)
        if block.lang == "python"
        for name in re.findall(r"\bbench\.(\w+)\(", block.text)
    }
    assert shown >= {"measure", "load", "compare"}
    if not callable(getattr(bench, "measure", None)):  # bench.measure is also a subpackage
        pytest.skip("bench.measure and friends are not in bench/__init__.py yet")
    assert sorted(n for n in shown if not callable(getattr(bench, n, None))) == []
