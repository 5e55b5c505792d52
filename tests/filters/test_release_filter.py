"""The tragen_release_id filter: the release id of a source digest and the hosts' documents."""

from __future__ import annotations

import re

import pytest
from ansible.errors import AnsibleFilterError

from tests.filters.test_tragen_filters import FILTERS, TaggedStr
from tragen_runtime import release

SOURCE = "1a2b3c4d5e" + "f" * 54
DOCS = [{"production": {"max_agents": 5}, "runtime": {"release_id": "old", "http": {}}},
        {"production": {"max_agents": 5}, "runtime": {"http": {"bind": "b"}}}]


def test_release_id_of_digest_and_documents() -> None:
    got = FILTERS["tragen_release_id"](SOURCE, DOCS)
    assert re.fullmatch(r"^r[0-9a-f]{10}-[0-9a-f]{8}$", got)
    assert got == release.release_id(SOURCE, release.config_digest(DOCS))
    assert got == FILTERS["tragen_release_id"](TaggedStr(SOURCE + "\n"), DOCS[::-1])


@pytest.mark.parametrize(("source", "documents", "message"), [
    ("nothex", DOCS, "source digest must be at least 10 lowercase hex"),
    (None, DOCS, "source digest must be"),
    (SOURCE, DOCS[0], "documents must be a list of mappings, found a dict"),
    (SOURCE, [DOCS[0], "app1"], "documents must be a list of mappings, found a str"),
    (SOURCE, [{"x": object()}], "Object of type object is not JSON serializable"),
])
def test_bad_input_is_a_filter_error(source: object, documents: object, message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=f"tragen_release_id: {message}"):
        FILTERS["tragen_release_id"](source, documents)


def test_a_wheelhouse_of_another_source_is_refused_with_what_to_do() -> None:
    refusal = FILTERS["tragen_release_wheelhouse_refusal"]
    now = "a1" * 32
    for marker in ("", f"v2 source={now}\n", "v2 (the code of r1-2)\n", None):
        assert refusal(marker, "v2", now, "/w/v2", "/opt/tragen") == ""
    said = refusal("v2 source=" + "b2" * 32 + "\n", "v2", now, "/w/v2", "/opt/tragen")
    assert said.startswith("Release v2 was built from other sources (source digest "
                           "b2b2b2b2b2b2, the source is now a1a1a1a1a1a1)")
    assert "remove /w/v2 and /opt/tragen/releases/v2 on every app server" in said
