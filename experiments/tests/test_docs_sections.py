"""`fracinit_experiments.docs_sections`: the one writer of marked documentation sections."""

import pytest

from fracinit_experiments import docs_sections

pytestmark = pytest.mark.backend_independent

PAGE = (
    "# Page\n\n<!-- table:begin -->\nold\nlines\n<!-- table:end -->\n\n"
    "<!-- a.b:begin -->\n<!-- a.b:end -->\ntail\n"
)


def test_replaces_only_its_section_and_is_idempotent(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(PAGE)
    docs_sections.replace_section(page, "table", "\n| new |\n\n")
    expected = PAGE.replace("old\nlines\n", "| new |\n")
    assert page.read_text() == expected
    docs_sections.replace_section(page, "table", "| new |")
    assert page.read_text() == expected
    # The name is matched literally: "a.b" is not a pattern.
    docs_sections.replace_section(page, "a.b", "x")
    assert page.read_text() == expected.replace("<!-- a.b:begin -->\n", "<!-- a.b:begin -->\nx\n")


def test_a_page_without_the_markers_stops_with_its_name(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(PAGE)
    with pytest.raises(SystemExit, match="page.md has no section markers for 'axb'"):
        docs_sections.replace_section(page, "axb", "x")
    assert page.read_text() == PAGE
