"""docs/e3nn.md lists every public name of e3nn 0.6 with e3core's status: checked both ways."""

import re
from pathlib import Path

import pytest
from e3nn_names import E3NN_MODULES, e3core_has, e3nn_public_names

DOC = Path(__file__).resolve().parents[2] / "docs" / "e3nn.md"


def documented() -> dict[str, dict[str, str]]:
    """{"e3nn.o3": {name: "yes" or "missing"}, ...} from the doc's tables."""
    tables: dict[str, dict[str, str]] = {}
    section = None
    for line in DOC.read_text().splitlines():
        heading = re.match(r"## `(e3nn[\w.]*)`", line)
        if heading:
            section = heading.group(1)
            tables[section] = {}
        row = re.match(r"\| `([\w.]+)` \| (yes|missing) \|", line)
        if row and section:
            tables[section][row.group(1)] = row.group(2)
    return tables


@pytest.mark.parametrize("module", E3NN_MODULES)
def test_every_public_name_of_e3nn_has_a_row(module):
    section = "e3nn" + ("." + module if module else "")
    rows = documented().get(section)
    assert rows is not None, f"docs/e3nn.md has no section for {section}"
    names = e3nn_public_names(module)
    assert sorted(rows) == names, f"{section}: rows differ from e3nn's public names"


@pytest.mark.parametrize("module", E3NN_MODULES)
def test_each_rows_status_is_true(module):
    section = "e3nn" + ("." + module if module else "")
    for name, status in documented()[section].items():
        assert e3core_has(module, name) == (status == "yes"), f"{section}.{name} is not {status}"


def test_the_model_files_rows():
    rows = documented()["e3nn.nn.models"]
    for name, status in rows.items():
        module, attribute = name.rsplit(".", 1)
        assert e3core_has("nn.models." + module, attribute) == (status == "yes"), name
