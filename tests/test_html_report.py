"""The HTML report (``gradlab check --html``, ``pytest --gradlab-html``): one self-contained file, a
picture per failing check, and the picture shows the bug planted in the op."""

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from gradlab.check.results import CheckResult, GradCheckReport, Mismatch
from gradlab.cli import heatmap
from gradlab.cli.html_report import _vector_figure, jacobians, to_html
from gradlab.cli.session import Session, module_targets

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
pytest_plugins = ["pytester"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# b is added to every row of x; its VJP forgets to sum over the rows (the batch axis)
MISSING_REDUCTION = """
from gradlab.ops import op, defvjp

REAL = {"domain": "real"}
SPEC = {"shape": "(n,d),(d)->(n,d)", "inputs": [{"name": "x", **REAL}, {"name": "b", **REAL}], "checks": ["rev"]}
add_bias = op("add_bias", lambda x, b: x + b, spec=SPEC)
defvjp(add_bias, lambda g, ans, x, b: g, lambda g, ans, x, b: g[0])
"""


def gradlab(*args):
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "gradlab", *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=600,
        env=env,
    )  # fmt: skip


def run_session(path, examples=30):
    session = Session(
        targets=module_targets(str(path)), dtypes=("float64",), examples=examples, seed=0, mode="auto",
        device="cpu", profile="quick", timeout=20.0,
    )  # fmt: skip
    session.run(lambda target, dtype: None, lambda name, done, planned: None)
    return session


class Page(HTMLParser):
    """The tags of a page, with their attributes, and the text of its <style>."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.style, self._in_style = [], "", False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.style += data


def external_references(text):
    """Whatever in the page would be fetched from outside it."""
    page, found = Page(text), []
    for tag, attrs in page.tags:
        if tag in ("link", "script", "iframe", "object", "embed", "base"):
            found.append(f"<{tag}>")
        for name in ("src", "href", "xlink:href", "srcset", "poster", "data"):
            value = (attrs.get(name) or "").strip()
            if value and not value.startswith(("#", "data:")):
                found.append(f"<{tag} {name}={value!r}>")
    found += re.findall(r"@import|url\((?!\s*['\"]?data:)[^)]*\)", page.style)
    found += re.findall(r"https?:|(?<![<:])//", text)
    return found


def failing_value_checks(session):
    """(op, dtype, check, subject) of every failing check that has values to draw (not form)."""
    return [
        (t.name, o.dtype, r.check, r.subject)
        for t in session.targets
        for o in t.outcomes
        if o.failure is not None
        for r in o.failure.report.failures
        if r.check != "form"
    ]


@pytest.fixture(scope="module")
def layernorm():
    session = run_session(EXAMPLES / "buggy_layernorm.py")
    return session, to_html(session, jacobians(session, 20.0))


def test_the_examples_report_has_a_picture_per_failing_check_and_nothing_external(layernorm):
    session, text = layernorm
    failing = failing_value_checks(session)
    assert failing == [("layernorm", "float64", "rev", "x")]
    figures = [attrs for tag, attrs in Page(text).tags if tag == "svg"]
    # each failing check at its shrunk example, x (1, 2), and at a larger input where it fails too
    assert len(figures) == 2 * len(failing)
    assert all("heatmap" in attrs.get("class", "") for attrs in figures)
    larger = re.search(r"the same check at a larger input where it fails too \(x: float64 \((\d+), (\d+)\)", text)
    assert larger is not None and min(int(larger[1]), int(larger[2])) >= 2
    assert external_references(text) == []
    assert "layernorm" in text and "reproduce" in text and "buggy_layernorm.py::layernorm --dtype float64" in text


def test_the_external_reference_finder_finds_them():
    page = '<html><head><link rel="stylesheet" href="x.css"><style>@import "a.css"; b{background:url(i.png)}</style>'
    page += '</head><body><img src="a.png"><a href="https://example.org">x</a><img src="data:image/png;base64,AA">'
    found = external_references(page + "</body></html>")
    assert "<link>" in found and "<img src='a.png'>" in found and "@import" in found and "url(i.png)" in found
    assert not any("data:" in f for f in found)
    assert external_references('<a href="#op-x">x</a><style>a{background:url(data:image/png;base64,AA)}</style>') == []


def test_the_cli_flag_writes_the_file_and_keeps_the_exit_code(tmp_path):
    report, plain = tmp_path / "sub" / "r.html", tmp_path / "r.json"
    wrong = gradlab("check", EXAMPLES / "buggy_layernorm.py", "--examples", "20", "--html", report, "--json", plain)
    assert wrong.returncode == 1, wrong.stdout + wrong.stderr
    assert report.read_text().startswith("<!DOCTYPE html>") and "FAILED" in report.read_text()
    assert json.loads(plain.read_text())["exit_code"] == 1
    right = gradlab("check", "--registry", "-k", "^exp$", "--examples", "10", "--html", tmp_path / "ok.html")
    assert right.returncode == 0, right.stdout + right.stderr
    page = (tmp_path / "ok.html").read_text()
    assert "passed" in page and "<svg" not in page  # a passing op: a line, no picture
    unrun = gradlab("check", "--registry", "-k", "no_such_op", "--html", tmp_path / "unrun.html")
    assert unrun.returncode == 2 and "no op matches" in (tmp_path / "unrun.html").read_text()


def cells(svg_panel):
    """{(row, column): fill} of the cells a panel draws (those not zero)."""
    found = {}
    for fill, d in re.findall(r'<path fill="(#[0-9a-f]{6})" d="([^"]*)"', svg_panel):
        for c, r, n in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", d):
            for k in range(int(n)):
                found[(int(r), int(c) + k)] = fill
    return found


def panels(svg):
    """The panels of a figure, by title."""
    return dict(re.findall(r'<g class="panel" data-title="([^"]*)"[^>]*>(.*?)<g class="legend"', svg, re.S))


def test_the_heat_map_shows_a_missing_reduction_as_a_band(tmp_path):
    module = tmp_path / "bias.py"
    module.write_text(MISSING_REDUCTION)
    session = run_session(module, examples=40)
    (outcome,) = session.targets[0].outcomes
    assert outcome.failure is not None
    n, d = outcome.failure.example.inputs[0].shape
    assert n >= 2  # one row has no batch to forget
    text = to_html(session, jacobians(session, 20.0))
    svg, at_larger = re.findall(r"<svg.*?</svg>", text, re.S)  # the shrunk example's, a larger one's
    shown = panels(svg)
    assert set(shown) == {"VJP (analytic)", "numerical", "difference"}
    rows_of = {k: {r for r, _ in cells(v)} for k, v in shown.items()}
    # the output's rows are (batch i, feature j): the VJP of b reads batch 0 only, the numerics every batch
    assert rows_of["VJP (analytic)"] == set(range(d))
    assert rows_of["numerical"] == set(range(n * d))
    assert rows_of["difference"] == set(range(d, n * d))  # the band: every batch but the first
    diff = cells(shown["difference"])
    assert all(c == r % d for r, c in diff)  # d out[i, j] / d b[j]: one column per feature
    assert len(set(diff.values())) == 1 and diff.popitem()[1] == heatmap.colour(-1.0)  # all -1: full blue
    # tick lines split the rows into the n batches
    assert len(re.findall(r'<line[^>]*stroke="#222"', shown["numerical"])) == n - 1
    # at the larger input the band is there too: every batch but the first, every feature
    n, d = map(int, re.search(r"larger input where it fails too \(x: float64 \((\d+), (\d+)\)", text).groups())
    larger = cells(panels(at_larger)["difference"])
    assert {r for r, _ in larger} == set(range(d, n * d)) and all(c == r % d for r, c in larger)


def test_pooling_keeps_the_worst_entry_and_its_sign():
    values = np.zeros((200, 130))
    values[17, 101], values[150, 3] = -9.0, 2.0
    pooled, fr, fc = heatmap.pool(values)
    assert pooled.shape[0] <= heatmap.MAX_CELLS and pooled.shape[1] <= heatmap.MAX_CELLS
    assert pooled[17 // fr, 101 // fc] == -9.0 and pooled[150 // fr, 3 // fc] == 2.0
    assert np.count_nonzero(pooled) == 2


def test_the_colour_scale_is_diverging_and_symmetric():
    assert heatmap.colour(0.0) == heatmap.ZERO and heatmap.colour(-1.0) == heatmap.RDBU[0]
    assert heatmap.colour(1.0) == heatmap.RDBU[-1] and heatmap.colour(7.0) == heatmap.RDBU[-1]
    red = [int(heatmap.colour(t)[1:3], 16) - int(heatmap.colour(t)[5:7], 16) for t in (-1, -0.5, 0.5, 1)]
    assert red[0] < 0 and red[1] < 0 and red[2] > 0 and red[3] > 0  # negative blue, positive red


def test_located_entries_are_drawn_on_the_inputs_shape():
    wrong = CheckResult(
        "rev", "fail", "x", mode="projected",
        mismatches=[Mismatch((1, 2, 3), 5.0, 1.0, 4.0, 1e-6)], mismatch_count=1,
    )  # fmt: skip
    report = GradCheckReport("f", [wrong], [(3, 4, 5)], ["float64"], ["x"], (0,), "projected", "stencil", 0)
    svg = _vector_figure(wrong, report)
    (panel,) = panels(svg).values()
    assert cells(panel) == {(1 * 4 + 2, 3): heatmap.colour(1.0)}  # rows: (3, 4) flattened; columns: 5
    assert '<rect class="worst"' in panel


WRONG_CUBE = """
from gradlab import defjvp, defvjp, op

SPEC = {"shape": "(n)->(n)", "inputs": [{"name": "x", "domain": "real"}]}
cube = op("cube", lambda x: x**3, spec=SPEC)
defvjp(cube, lambda g, ans, x: 3 * g * x**2)
wrong_cube = op("wrong_cube", lambda x: x**3, spec=SPEC)
defvjp(wrong_cube, lambda g, ans, x: -3 * g * x**2)
"""


def test_the_pytest_plugin_writes_a_report_per_failing_item(pytester):
    pytester.makepyfile(my_ops=WRONG_CUBE)
    result = pytester.runpytest("--gradlab-check", "my_ops.py", "-k", "float64", "--gradlab-html", "reports")
    result.assert_outcomes(passed=1, failed=1, deselected=2)
    written = sorted(p.name for p in (pytester.path / "reports").iterdir())
    assert written == ["my_ops.py-gradlab-wrong_cube-float64.html"]
    text = (pytester.path / "reports" / written[0]).read_text()
    assert text.count("<svg") == 2 and external_references(text) == []  # the shrunk example, a larger one
    assert "python -m pytest --gradlab-check my_ops.py -k" in text  # the item's own reproduce line


# ---- a headless browser renders it --------------------------------------------------------------


def png_pixels(data):
    """The RGB(A) rows of an 8-bit PNG (colour types 2 and 6), decoded with zlib alone."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour_type = header[:4]
    assert depth == 8 and colour_type in (2, 6)
    step = 3 if colour_type == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * step, [], bytearray(width * step)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - step] if x >= step else 0
            b, c = prev[x], prev[x - step] if x >= step else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return [[tuple(row[x : x + 3]) for x in range(0, stride, step)] for row in rows]


def test_chromium_renders_the_report(layernorm, tmp_path):
    if CHROMIUM is None:
        pytest.skip("no headless browser: install Debian's chromium (apt-get install chromium) to render the report")
    page, shot = tmp_path / "report.html", tmp_path / "report.png"
    page.write_text(layernorm[1])
    flags = "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking"
    flags += " --disable-component-update --disable-sync --hide-scrollbars"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [CHROMIUM, *flags.split(), f"--user-data-dir={profile}", f"--screenshot={shot}", "--window-size=1000,900",
             page.as_uri()],
            capture_output=True, timeout=120, check=False,
        )  # fmt: skip
    assert shot.exists(), "chromium wrote no screenshot"
    pixels = png_pixels(shot.read_bytes())
    colours = {p for row in pixels for p in row}
    assert len(colours) > 50  # text, a table, heat maps: not a blank page
    blue, red = (tuple(int(h[k : k + 2], 16) for k in (1, 3, 5)) for h in (heatmap.RDBU[0], heatmap.RDBU[-1]))
    assert blue in colours and red in colours  # the heat maps' extremes are on the screen
