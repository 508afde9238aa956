"""The pytest examples in README.rst's pytest_dyno section run, and do what the text says."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.rst"
SECTION = "Testing with pytest_dyno\n------------------------\n"
FAILS_ON_PURPOSE = "# fails on purpose"


@dataclass(frozen=True)
class Block:
    """One ``.. code-block::`` of the docs: its language and dedented text."""

    language: str
    text: str


def _section() -> str:
    """Return the README's pytest_dyno section, up to the next top-level heading."""
    text = README.read_text()
    assert SECTION in text, "the README has a pytest_dyno section"
    body = text.split(SECTION, 1)[1]
    return re.split(r"\n[^\n]+\n-{3,}\n", body, maxsplit=1)[0]


def code_blocks(rst: str) -> list[Block]:
    """Return every code block of *rst*, in order."""
    blocks = []
    pattern = re.compile(r"^\.\. code-block:: (\w+)\n\n((?:(?:    .*)?\n)+)", re.MULTILINE)
    for match in pattern.finditer(rst):
        blocks.append(Block(match.group(1), textwrap.dedent(match.group(2)).strip("\n") + "\n"))
    return blocks


def test_the_docs_have_python_examples() -> None:
    """The section shows pytest code (so this test checks something)."""
    python = [block for block in code_blocks(_section()) if block.language == "python"]
    assert len(python) >= 3
    assert any(FAILS_ON_PURPOSE in block.text for block in python)


def test_pytest_examples_pass_and_failures_print_as_documented(
    pytester: pytest.Pytester,
) -> None:
    """Each python block runs as a test module; failing ones print the text block after them."""
    blocks = code_blocks(_section())
    expected_output: list[str] = []
    passing = failing = 0
    for index, block in enumerate(blocks):
        if block.language != "python":
            continue
        pytester.makepyfile(**{f"test_docs_{index}": block.text})
        tests = len(re.findall(r"^def test_", block.text, flags=re.MULTILINE))
        if FAILS_ON_PURPOSE in block.text:
            failing += tests
            following = blocks[index + 1]
            assert following.language == "text", "a failing example is followed by its output"
            expected_output += following.text.splitlines()
        else:
            passing += tests
    result = pytester.runpytest("--strict-markers", "-p", "no:randomly")
    result.assert_outcomes(passed=passing, failed=failing)
    result.stdout.fnmatch_lines(expected_output)
