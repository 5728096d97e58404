"""Every shipped email, built as the backends build it, scores 0 or below in SpamAssassin.

SpamAssassin runs locally (`-L`: no network tests, no Bayes database), over all the emails in
one mbox so that its rules load once.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from email.utils import make_msgid
from pathlib import Path

import pytest

from nurture.delivery.channels.base import OutgoingEmail
from nurture.delivery.channels.mime import build_mime
from nurture.messages.preview import Sample, every_sample

pytestmark = pytest.mark.slow

_STATUS = re.compile(
    rb"^X-Spam-Status: \w+, score=(-?[\d.]+) required=\S+ (tests=[^\n]*\n(?:[ \t][^\n]*\n)*)",
    re.M,
)


def _spamassassin() -> str:
    found = shutil.which("spamassassin")
    if found is None:
        why = "spamassassin is not installed (apt-get install spamassassin)"
        if "spamassassin" in os.environ.get("NURTURE_TEST_REQUIRE", ""):
            pytest.fail(why)
        pytest.skip(why)
    return found


def outgoing(sample: Sample) -> OutgoingEmail:
    """The email as compose() hands it to a backend: marketing carries the list headers."""
    email = sample.email
    headers = {}
    if sample.marketing:
        headers = {
            "List-Unsubscribe": "<https://nurture.clinic.example.org/unsubscribe/x>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": "Example Clinic updates <updates.clinic.example.org>",
        }
    return OutgoingEmail(
        to_email="sam@example.com",
        from_email="hello@clinic.example.org",
        from_name="Example Spine & Nerve Clinic",
        subject=email.subject,
        html=email.html,
        text=email.text,
        headers=headers,
    )


def _mbox(messages: list[bytes]) -> bytes:
    out = []
    for data in messages:
        body = re.sub(rb"^(>*From )", rb">\1", data.replace(b"\r\n", b"\n"), flags=re.M)
        out.append(b"From nurture@localhost Sun Dec  6 08:00:00 2026\n" + body + b"\n")
    return b"".join(out)


def spam_scores(messages: list[bytes], home: Path) -> list[tuple[float, str]]:
    """Score each message with local rules only; return (score, rules hit) in order."""
    result = subprocess.run(
        [_spamassassin(), "-t", "-L", "-x", "--mbox", "--cf=use_bayes 0"],
        input=_mbox(messages),
        capture_output=True,
        env={**os.environ, "HOME": str(home)},
        check=True,
    )
    return [
        (float(score), re.sub(rb"\s+", b" ", rules).decode().strip())
        for score, rules in _STATUS.findall(result.stdout)
    ]


@pytest.fixture
def samples(settings) -> list[Sample]:  # type: ignore[no-untyped-def]
    settings(base_url="https://nurture.clinic.example.org", env="production", secret_key="p" * 40)
    return list(every_sample())


def test_every_email_scores_zero_or_below(samples: list[Sample], tmp_path: Path) -> None:
    messages = [bytes(build_mime(outgoing(s), make_msgid(domain="nurture.local"))) for s in samples]
    scores = spam_scores(messages, tmp_path)
    assert len(scores) == len(samples)
    scored = {s.name: found for s, found in zip(samples, scores, strict=True) if found[0] > 0}
    assert scored == {}


def test_spam_check_sees_a_spammy_email(samples: list[Sample], tmp_path: Path) -> None:
    # The check itself must notice what the shipped emails avoid.
    good = samples[0]
    email = outgoing(good)
    spammy = dataclasses.replace(
        email,
        html=email.html.replace("<p", "<p>Burn fat: weight loss with no dieting</p><p", 1),
        text=f"Burn fat: weight loss with no dieting\n\n{email.text}",
    )
    [(score, rules)] = spam_scores([bytes(build_mime(spammy, make_msgid()))], tmp_path)
    assert score > 0
    assert "DIET_1" in rules
