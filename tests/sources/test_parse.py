"""SOURCE spellings → targets (all the forms DANDI users paste), and refusal of non-http(s) URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from nwb_dyn.errors import SourceError
from nwb_dyn.sources.parse import DandiTarget, LocalTarget, UrlTarget, parse_source


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("dandiset:000128", DandiTarget("000128")),
        ("dandiset:000128@0.220113.0400", DandiTarget("000128", "0.220113.0400")),
        ("dandiset:000128@draft", DandiTarget("000128", "draft")),
        ("dandiset:000128/sub-Jenkins/a.nwb", DandiTarget("000128", None, "sub-Jenkins/a.nwb")),
        ("dandiset:000128@draft/sub-Jenkins/", DandiTarget("000128", "draft", "sub-Jenkins")),
        ("DANDI:000128/0.220113.0400", DandiTarget("000128", "0.220113.0400")),
        ("DANDI:000128", DandiTarget("000128")),
        ("dandi:000128/draft/sub-Jenkins/a.nwb", DandiTarget("000128", "draft", "sub-Jenkins/a.nwb")),
        ("https://dandiarchive.org/dandiset/000128", DandiTarget("000128")),
        ("https://dandiarchive.org/dandiset/000128/0.220113.0400", DandiTarget("000128", "0.220113.0400")),
        (
            "https://dandiarchive.org/dandiset/000128/draft/files?location=sub-Jenkins%2F",
            DandiTarget("000128", "draft", "sub-Jenkins"),
        ),
        ("https://example.org/data/x.nwb", UrlTarget("https://example.org/data/x.nwb")),
        ("http://127.0.0.1:8000/x.nwb", UrlTarget("http://127.0.0.1:8000/x.nwb")),
        ("data/x.nwb", LocalTarget(Path("data/x.nwb"))),
    ],
)
def test_source_forms(source: str, expected: object) -> None:
    assert parse_source(source) == expected


@pytest.mark.parametrize("source", ["ftp://example.org/x.nwb", "file:///tmp/x.nwb", "s3://bucket/x.nwb"])
def test_only_http_urls_are_accepted(source: str) -> None:
    with pytest.raises(SourceError, match=r"only http:// and https:// URLs are accepted"):
        parse_source(source)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("dandiset:128", "6-digit id"),
        ("dandiset:000128@latest", "'latest' is not a DANDI version"),
        ("", "SOURCE is empty"),
        ("https://dandiarchive.org/about", "not a dandiset address"),
    ],
)
def test_malformed_references_name_the_fix(source: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        parse_source(source)
