"""The README's set-up commands stay true: CI runs exactly the README's test command."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands(text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines()]
    return [line for line in lines if line.startswith("python3 -m venv")]


def test_ci_runs_the_readme_test_command():
    readme = _commands((ROOT / "README.md").read_text())
    assert len(readme) >= 2, "the README starts with two set-up commands"
    ci = _commands((ROOT / ".ci" / "run").read_text())
    assert ci == [readme[1]], "the test command in .ci/run differs from the README's"
    assert "pytest" in readme[1] and "[peers,bench,dev]" in readme[1]


def test_readme_python_example_runs():
    """The Python block of the README runs as pasted."""
    text = (ROOT / "README.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```python\n")[1:]]
    assert blocks
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})
