"""Secrets never reach a report; ordinary text is left alone."""

from migrate.exchange import Transcript
from migrate.report._common import prepare, scrub_text


def test_scrub_text_masks_credentials():
    assert scrub_text("Authorization: Bearer abc123def456ghi") == "Authorization: Bearer ***"
    assert scrub_text("see http://user:pw@host:8000/v1") == "see http://host:8000/v1"
    assert scrub_text("GET /x?api_key=s3cr3t&b=1") == "GET /x?api_key=***&b=1"
    assert "sk-" not in scrub_text("key sk-abcdefghijklmnop1234")


def test_scrub_text_keeps_ordinary_prose():
    text = "A basic understanding of the bearer bond market; tokens=12"
    assert scrub_text(text) == text


def test_prepare_drops_secret_headers_and_masks_body_keys():
    t = Transcript(
        url="http://h",
        headers={"Authorization": "Bearer x", "X-Api-Key": "k", "Cookie": "c", "content-type": "application/json"},
        request_body={"model": "m", "api_key": "k"},
        lines=["ok"],
    )
    out = prepare({"checks": [{"transcripts": {"new": [t]}}]})
    got = out["checks"][0]["transcripts"]["new"][0]
    assert got["headers"] == {"content-type": "application/json"}
    assert got["request_body"] == {"model": "m", "api_key": "***"}
