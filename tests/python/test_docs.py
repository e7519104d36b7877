"""Every fenced code block of README.md and docs/*.md runs as written, or says why not.

A page's runnable blocks run in the order of the page, as a reader would run them, in a fresh
temporary directory (``examples/`` of the repository linked into it, so that commands and code
name ``examples/...`` as from the repository root), in one subprocess per page:

- ``python`` blocks run in one namespace, so a block may use the names of the blocks above it;
- ``bash``, ``sh``, ``shell`` and ``console`` blocks (for ``console``, the lines after ``$ ``) run
  in one bash per page with ``set -e``, so variables, ``cd`` and files carry over too;
- ``yaml`` blocks are parsed; one marked ``config`` is also checked by
  ``validate_config`` (e3core.train._config).

A block that must not run in the test suite says so in an HTML comment on the line before its
fence, which the rendered page does not show:

- ``<!-- docs-test: skip (reason) -->``: never run (set-up commands, GPU-only or hours-long runs,
  C++, CMake, LAMMPS input, text);
- ``<!-- docs-test: output -->``: what the last run block above printed; compared loosely (line
  by line, as an ordered subset of the printed lines; numbers to 5 % or 1e-3);
- ``<!-- docs-test: cuda -->``: runs only where torch sees a GPU;
- ``<!-- docs-test: config -->`` (``yaml``): a configuration of ``python -m e3core train``.

Any other block without a marker fails ``test_block_is_run_or_marked``, so a new block is either
run or given a reason. ``python tests/python/test_docs.py docs/PAGE.md`` runs one page in the
current directory (what the tests do), printing each block's time.
"""

import contextlib
import io
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PYTHON = {"python", "py"}
SHELL = {"bash", "sh", "shell", "console"}
YAML = {"yaml", "yml"}
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[^\s`]*)")
MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<kind>[a-z]+)\s*(?:\((?P<reason>.*)\))?\s*-->\s*$")
MARKER_KINDS = {"skip", "output", "cuda", "config"}
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
# Seconds a page may take (CI runs on 2 cores; the longest page, training.md, takes under 1 min).
PAGE_TIMEOUT = 900


@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    marker: str | None  # skip / output / cuda / config
    reason: str | None

    @property
    def where(self) -> str:
        return f"{_name(self.page)}:{self.line}"

    @property
    def runs(self) -> bool:
        """Whether the page's run executes it (cuda blocks: where a GPU is)."""
        return self.marker in (None, "cuda") and self.lang in PYTHON | SHELL


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else page.name


def parse(page: Path) -> tuple[list[Block], list[str]]:
    """The fenced blocks of a page and the problems of its markers (a marker that is not on
    the line before a fence, an unknown kind, a skip without a reason)."""
    lines = page.read_text().split("\n")
    rel = _name(page)
    blocks, problems, i = [], [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        marker = MARKER.match(lines[i])
        if marker and not (i + 1 < len(lines) and FENCE.match(lines[i + 1])):
            problems.append(f"{rel}:{i + 1}: a docs-test marker not on the line before a fence")
        if not match:
            i += 1
            continue
        indent, fence = len(match["indent"]), match["fence"]
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        # A fence indented in a list: its lines lose that indentation.
        body = "\n".join(line[indent:] if line[:indent].strip() == "" else line.lstrip()
                         for line in lines[i + 1:end])  # fmt: skip
        kind = reason = None
        previous = MARKER.match(lines[i - 1]) if i > 0 else None
        if previous:
            kind, reason = previous["kind"], previous["reason"]
            if kind not in MARKER_KINDS:
                problems.append(f"{rel}:{i}: unknown docs-test marker {kind!r}")
            if kind == "skip" and not (reason or "").strip():
                problems.append(f"{rel}:{i}: 'docs-test: skip' needs a reason: skip (why)")
        blocks.append(Block(page, i + 1, match["lang"].lower(), body + "\n", kind, reason))
        i = end + 1
    return blocks, problems


def all_blocks() -> list[Block]:
    return [block for page in PAGES for block in parse(page)[0]]


# ---------------------------------------------------------------------------------------------
# Running a page (in the subprocess)


class _Tee(io.TextIOBase):
    """Writes to a stream and keeps a copy."""

    def __init__(self, stream):
        self.stream, self.copy = stream, io.StringIO()

    def write(self, text):
        self.stream.write(text)
        return self.copy.write(text)

    def flush(self):
        self.stream.flush()


class ShellError(RuntimeError):
    pass


class _Shell:
    """One bash for a page's shell blocks (``set -e``: a failing command ends it)."""

    def __init__(self, scratch: Path):
        self.scratch = scratch
        self.done_r, done_w = os.pipe()
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"], stdin=subprocess.PIPE, text=True,
            pass_fds=(done_w,),
        )  # fmt: skip
        self.done_w = done_w
        self.send("set -eE\ntrap 'echo \"[docs-test] failed: $BASH_COMMAND\" >&2' ERR\n")
        os.close(done_w)

    def send(self, text: str) -> None:
        self.process.stdin.write(text)
        self.process.stdin.flush()

    def run(self, block: Block) -> str:
        """Runs a block; returns its standard output (also printed); raises if bash ended."""
        script = self.scratch / f"block-{block.line}.sh"
        out = self.scratch / f"block-{block.line}.out"
        text = block.text
        if block.lang == "console":
            text = "\n".join(line[2:] for line in text.split("\n") if line.startswith("$ "))
        script.write_text(text + "\n")
        self.send(f". '{script}' </dev/null >'{out}'\necho ok >&{self.done_w}\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = os.read(self.done_r, 64)
            if not chunk:
                break
            reply += chunk
        printed = out.read_text() if out.exists() else ""
        sys.stdout.write(printed)
        if reply != b"ok\n":
            status = self.process.wait()
            raise ShellError(f"the shell block ended with exit status {status}")
        return printed

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            self.send("exit 0\n")
            self.process.stdin.close()
        self.process.wait()


def matches_loosely(expected: str, printed: str, rtol: float = 0.05, atol: float = 1e-3) -> str:
    """'' if every non-blank line of ``expected`` matches a line of ``printed``, in order (the
    same text with whitespace collapsed; numbers within ``atol + rtol * |expected|``), else the
    first line that matches none."""

    def split(line):
        words = " ".join(line.split())
        return NUMBER.sub("#", words), [float(n) for n in NUMBER.findall(words)]

    def same(a, b):
        return a[0] == b[0] and all(
            math.isclose(x, y, rel_tol=rtol, abs_tol=atol) for x, y in zip(b[1], a[1], strict=True)
        )

    printed_lines = [split(line) for line in printed.splitlines() if line.strip()]
    position = 0
    for line in expected.splitlines():
        if not line.strip():
            continue
        want = split(line)
        while position < len(printed_lines) and not same(printed_lines[position], want):
            position += 1
        if position == len(printed_lines):
            return line
        position += 1
    return ""


def run_page(page: Path) -> int:
    """Runs a page's blocks in the current directory; 0, or 1 naming the block that failed."""
    import torch  # noqa: F401  (imported once, outside the blocks' timings)

    blocks, problems = parse(page)
    if problems:
        print("\n".join(problems))
        return 1
    namespace: dict = {"__name__": "__main__"}
    scratch = Path(tempfile.mkdtemp(prefix=".docs-test-", dir="."))
    shell = None
    printed = None
    has_cuda = torch.cuda.is_available()
    page_start = time.perf_counter()
    try:
        for block in blocks:
            if block.marker == "cuda" and not has_cuda:
                print(f"[docs-test] {block.where}: not run (no GPU)", flush=True)
                printed = None  # an output block below has nothing to compare with
                continue
            if block.marker == "output" and printed is not None:
                missing = matches_loosely(block.text, printed)
                if missing:
                    print(f"[docs-test] FAILED {block.where}: the output shown is not what the "
                          f"block above printed; no printed line matches:\n{missing}")  # fmt: skip
                    return 1
                print(f"[docs-test] {block.where}: output matches", flush=True)
                continue
            if not block.runs:
                continue
            print(f"[docs-test] {block.where}: {block.lang} block", flush=True)
            start = time.perf_counter()
            try:
                if block.lang in PYTHON:
                    # Blank lines first, so that tracebacks give the page's line numbers.
                    code = compile("\n" * block.line + block.text, str(page), "exec")
                    tee = _Tee(sys.stdout)
                    with contextlib.redirect_stdout(tee):
                        exec(code, namespace)
                    printed = tee.copy.getvalue()
                else:
                    shell = shell or _Shell(scratch)
                    printed = shell.run(block)
            except BaseException as error:  # noqa: B036  (SystemExit from a block too)
                if not isinstance(error, ShellError):
                    traceback.print_exc(file=sys.stdout)
                print(f"[docs-test] FAILED {block.where}: {type(error).__name__}: {error}")
                return 1
            sys.stdout.flush()
            print(f"[docs-test] {block.where}: {time.perf_counter() - start:.1f} s", flush=True)
    finally:
        if shell is not None:
            shell.close()
    cpu = sum(r.ru_utime + r.ru_stime for r in map(resource.getrusage, (resource.RUSAGE_SELF,
              resource.RUSAGE_CHILDREN)))  # fmt: skip
    print(f"[docs-test] {_name(page)}: {time.perf_counter() - page_start:.1f} s "
          f"({cpu:.1f} s of CPU in all)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(run_page(Path(sys.argv[1]).resolve()))


# ---------------------------------------------------------------------------------------------
# The tests

BLOCKS = all_blocks()
RUN_PAGES = [page for page in PAGES if any(b.runs for b in parse(page)[0])]


def test_pages_found():
    assert (ROOT / "README.md") in PAGES and len(PAGES) > 5
    assert len(BLOCKS) > 20


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_markers(page):
    """Each marker is on the line before a fence, of a known kind, and a skip gives a reason."""
    assert parse(page)[1] == []


def check_block(block: Block, blocks: list[Block]) -> None:
    """Asserts that a block is run (python, shell), parsed (yaml) or marked with why not."""
    if block.marker == "skip":
        return
    if block.marker == "output":
        previous = [b for b in blocks if b.page == block.page and b.line < block.line]
        assert any(b.runs for b in previous), (
            f"{block.where}: an output block needs a run block above it on its page"
        )
        return
    if block.lang in YAML:
        yaml = pytest.importorskip("yaml")
        loaded = yaml.safe_load(block.text)
        if block.marker == "config":
            from e3core.train._config import validate_config

            validate_config(loaded)
        return
    assert block.marker != "config", f"{block.where}: 'config' is for yaml blocks"
    assert block.runs, (
        f"{block.where}: a ```{block.lang} block that is not run: make it runnable or mark it "
        "on the line before the fence with <!-- docs-test: skip (why) -->"
    )


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.where)
def test_block_is_run_or_marked(block):
    """Each block is run (python, shell), parsed (yaml) or marked with why it is not run."""
    check_block(block, BLOCKS)


def test_checks_catch_mistakes(tmp_path):
    """The checks themselves: markers out of place, unmarked blocks, configs, outputs."""
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- docs-test: skip -->\n```cpp\nint x;\n```\n\n<!-- docs-test: skip (why) -->\n\n"
        "```text\nhi\n```\n\n<!-- docs-test: config -->\n```yaml\nmodel: {name: schnet, kwargs: "
        "{type_numbers: [1]}}\n```\n<!-- docs-test: config -->\n```yaml\ndata: {bacth_size: 3}\n"
        "```\n  ```python\n  x = 1\n  ```\n```text\nhi\n```\n"
    )  # fmt: skip
    blocks, problems = parse(page)
    assert [(b.line, b.lang, b.marker) for b in blocks] == [
        (2, "cpp", "skip"), (8, "text", None), (13, "yaml", "config"), (17, "yaml", "config"),
        (20, "python", None), (23, "text", None),
    ]  # fmt: skip
    assert problems == [
        "page.md:1: 'docs-test: skip' needs a reason: skip (why)",
        "page.md:6: a docs-test marker not on the line before a fence",
    ]
    assert blocks[4].text == "x = 1\n" and blocks[4].runs
    check_block(blocks[2], blocks)
    with pytest.raises(ValueError, match="bacth_size"):
        check_block(blocks[3], blocks)
    with pytest.raises(AssertionError, match="page.md:23: a ```text block that is not run"):
        check_block(blocks[5], blocks)
    printed = "progress\nloss 0.0601 after 12 steps\nY(2, 2): -0.2779\n"
    assert matches_loosely("loss 0.0600 after 12 steps\nY(2, 2):  -0.278", printed) == ""
    assert matches_loosely("loss 0.07 after 12 steps", printed) == "loss 0.07 after 12 steps"
    assert matches_loosely("Y(2, 2): -0.2779\nloss 0.06 after 12 steps", printed) != ""


@pytest.mark.parametrize("page", RUN_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_runs(page, tmp_path):
    """The page's python and shell blocks run as written, in order, in a fresh directory."""
    import torch

    if not torch.cuda.is_available() and all(b.marker == "cuda" for b in parse(page)[0] if b.runs):
        pytest.skip("its blocks run on a GPU only")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    # One thread: the pages' models are small, and on a machine busy with other work torch's
    # threads slow each other down (tripled times on 2 cores).
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    result = subprocess.run(
        [sys.executable, __file__, str(page)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=PAGE_TIMEOUT,
    )  # fmt: skip
    print(result.stdout[-20000:])
    failed = [line for line in result.stdout.splitlines() if "[docs-test] FAILED" in line]
    tail = result.stdout[-6000:]
    assert result.returncode == 0, (failed or ["(no block named)"])[0] + "\n" + tail
