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
