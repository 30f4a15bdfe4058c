from collections.abc import Callable

import pytest

from basalt.guard import Action, EntityFilter, Guardrail, SensitiveInformationPolicy
from basalt.guard.config import ENTITY_TYPES
from basalt.guard.pii import find_entities

# Made-up credentials, assembled at run time so the file holds nothing a secret scanner would take for a leaked key.
ACCESS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
OPENAI_KEY = "sk-" + "proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
GITHUB_TOKEN = "ghp" + "_0123456789abcdefghijABCDEFGHIJ012345"

CASES = [
    ("EMAIL", "write to jane.doe+billing@example.co.uk today", "jane.doe+billing@example.co.uk"),
    ("PHONE", "call me at (415) 555-0132 after six", "(415) 555-0132"),
    ("PHONE", "UK office: +44 20 7946 0958.", "+44 20 7946 0958"),
    ("CREDIT_CARD", "card 4111-1111-1111-1111 exp 04/28", "4111-1111-1111-1111"),
    ("CREDIT_CARD", "amex 3782 822463 10005 please", "3782 822463 10005"),
    ("IBAN", "IBAN DE89 3704 0044 0532 0130 00 for the refund", "DE89 3704 0044 0532 0130 00"),
    ("US_SSN", "SSN 123-45-6789 on file", "123-45-6789"),
    ("US_SSN", "my ssn is 123456789", "123456789"),
    ("IP_ADDRESS", "from 203.0.113.42 at night", "203.0.113.42"),
    ("IP_ADDRESS", "host 2001:db8:85a3::8a2e:370:7334 is down", "2001:db8:85a3::8a2e:370:7334"),
    ("MAC_ADDRESS", "device 00:1A:2B:3C:4D:5E joined", "00:1A:2B:3C:4D:5E"),
    ("URL", "see https://example.com/a/b?c=1.", "https://example.com/a/b?c=1"),
    ("AWS_ACCESS_KEY", f"key {ACCESS_KEY} leaked", ACCESS_KEY),
    ("AWS_SECRET_KEY", f"aws_secret_access_key={SECRET_KEY}", SECRET_KEY),
    ("API_KEY", f"OPENAI_API_KEY={OPENAI_KEY}", OPENAI_KEY),
    ("API_KEY", f"token {GITHUB_TOKEN}", GITHUB_TOKEN),
    ("PASSWORD", "db password=Tr0ub4dor&3 in the config", "Tr0ub4dor&3"),
]  # fmt: skip

LOOKALIKES = [
    "card 4111 1111 1111 1112 fails the Luhn check",
    "IBAN DE89 3704 0044 0532 0130 01 has a bad checksum",
    "SSN 000-12-3456 and 666-12-3456 are never issued",
    "upgrade to version 10.2.3.4 tonight",
    "order ORD-2024-004512 shipped on 2024-03-18 10:30:00",
    "commit 3f786850e387550fdab836ed7e6dc881de23001b fixed it",
    "ISBN 978-3-16-148410-0, total $1,234,567.89, pi 3.14159265",
    "Forgot your password? Click the reset link.",
    "std::vector<int> and 12:30:45 are not addresses",
]


@pytest.mark.parametrize(("kind", "text", "value"), CASES)
def test_each_entity_is_found_exactly(kind: str, text: str, value: str) -> None:
    found = [(text[e.start : e.end], e.kind) for e in find_entities(text)]
    assert (value, kind) in found


@pytest.mark.parametrize("text", LOOKALIKES)
def test_lookalikes_are_left_alone(text: str) -> None:
    assert find_entities(text) == []


def test_anonymize_replaces_with_placeholders(make: Callable[..., Guardrail]) -> None:
    g = make(sensitive_information=SensitiveInformationPolicy(entities=[EntityFilter(type=t) for t in ENTITY_TYPES]))
    result = g.assess("Mail jane@example.com or call 415-555-0132.", "INPUT")
    assert result.action is Action.ANONYMIZED
    assert result.text == "Mail {EMAIL} or call {PHONE}."
    [assessment] = result.assessments()
    assert [e["type"] for e in assessment["sensitiveInformationPolicy"]["piiEntities"]] == ["EMAIL", "PHONE"]


def test_bedrock_entity_names_are_accepted(make: Callable[..., Guardrail]) -> None:
    entity = EntityFilter(type="CREDIT_DEBIT_CARD_NUMBER", action="BLOCK")
    g = make(sensitive_information=SensitiveInformationPolicy(entities=[entity]))
    assert g.assess("pay with 4111111111111111", "OUTPUT").blocked


@pytest.mark.parametrize("source", ["INPUT", "OUTPUT"])
def test_actions_per_direction(make: Callable[..., Guardrail], source: str) -> None:
    entity = EntityFilter(type="EMAIL", input_action="BLOCK", output_action="ANONYMIZE")
    g = make(sensitive_information=SensitiveInformationPolicy(entities=[entity]))
    result = g.assess("reach me at a@b.io", source)  # type: ignore[arg-type]
    assert result.action is (Action.INTERVENED if source == "INPUT" else Action.ANONYMIZED)


def test_a_direction_can_be_off(make: Callable[..., Guardrail]) -> None:
    entity = EntityFilter(type="EMAIL", output_enabled=False)
    g = make(sensitive_information=SensitiveInformationPolicy(entities=[entity]))
    assert g.assess("a@b.io", "OUTPUT").action is Action.NONE
    assert g.assess("a@b.io", "INPUT").action is Action.ANONYMIZED


def test_detect_only_records_without_acting(make: Callable[..., Guardrail]) -> None:
    g = make(sensitive_information=SensitiveInformationPolicy(entities=[EntityFilter(type="EMAIL", action="NONE")]))
    result = g.assess("a@b.io", "INPUT")
    assert result.action is Action.NONE and result.text == "a@b.io"
    assert result.assessments()[0]["sensitiveInformationPolicy"]["piiEntities"][0]["action"] == "NONE"
