# ruff: noqa: E501
"""Generates the labelled PII set in tests/data/guardrails/pii.jsonl (run once; the file is committed).

    pip install 'faker==40.63.0' && python -m bench.guardrail_data

Each line is {"text": ..., "spans": [{"start", "end", "type"}]}: values made by Faker in several locales and
formats, embedded in everyday sentences, plus texts with no PII that look like it (invalid check digits, order
numbers, versions, dates, hashes, prices). The seed is fixed, so the file is the same on every run.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable
from pathlib import Path

from faker import Faker

from bench.guardrails import stored

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "guardrails" / "pii.jsonl"
SEED = 20261127

rng = random.Random(SEED)
Faker.seed(SEED)
fakers = {loc: Faker(loc) for loc in ("en_US", "en_GB", "de_DE", "fr_FR", "en_IN", "nl_NL", "es_ES", "it_IT")}
us = fakers["en_US"]


def _group(s: str, size: int, sep: str) -> str:
    return sep.join(s[i : i + size] for i in range(0, len(s), size))


def email() -> str:
    f = rng.choice(list(fakers.values()))
    value = rng.choice([f.email, f.company_email, f.free_email, f.safe_email])()
    return value.upper() if rng.random() < 0.05 else value


def phone() -> str:
    loc = rng.choice(["en_US", "en_US", "en_US", "en_GB", "de_DE", "fr_FR", "en_IN"])
    return fakers[loc].phone_number()


def card() -> str:
    kind = rng.choice(["visa16", "visa19", "mastercard", "amex", "discover", "jcb16", "diners", "visa16"])
    number = us.credit_card_number(card_type=kind)
    style = rng.random()
    if kind == "amex" and style < 0.5:
        return f"{number[:4]} {number[4:10]} {number[10:]}"
    if style < 0.35:
        return _group(number, 4, " ")
    if style < 0.5:
        return _group(number, 4, "-")
    return number


def iban() -> str:
    loc = rng.choice(["en_GB", "de_DE", "fr_FR", "nl_NL", "es_ES", "it_IT"])
    value = fakers[loc].iban()
    return _group(value, 4, " ") if rng.random() < 0.4 else value


def ssn() -> str:
    return us.ssn()


def ip() -> str:
    r = rng.random()
    if r < 0.5:
        return us.ipv4_public()
    if r < 0.8:
        return us.ipv4_private()
    return us.ipv6()


def mac() -> str:
    value = us.mac_address()
    r = rng.random()
    if r < 0.25:
        return value.upper()
    if r < 0.45:
        return value.replace(":", "-").upper()
    return value


def url() -> str:
    r = rng.random()
    if r < 0.4:
        return us.url()
    if r < 0.7:
        return us.uri()
    if r < 0.85:
        return f"https://{us.domain_name()}/{us.uri_path()}?id={rng.randint(1, 99999)}&ref={us.word()}"
    return f"www.{us.domain_name()}/{us.uri_path()}"


def _rand(alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def aws_access() -> str:
    return rng.choice(["AKIA", "ASIA"]) + _rand(string.ascii_uppercase + string.digits, 16)


def aws_secret() -> str:
    while True:
        value = _rand(string.ascii_letters + string.digits + "/+", 40)
        if any(c.islower() for c in value) and any(c.isupper() for c in value) and any(c.isdigit() for c in value):
            return value


def api_key() -> str:
    alnum = string.ascii_letters + string.digits
    return rng.choice(
        [
            lambda: "sk-proj-" + _rand(alnum + "_-", 48),
            lambda: "sk-ant-api03-" + _rand(alnum + "_-", 80),
            lambda: "ghp_" + _rand(alnum, 36),
            lambda: "xoxb-" + _rand(string.digits, 12) + "-" + _rand(string.digits, 12) + "-" + _rand(alnum, 24),
            lambda: "sk_live_" + _rand(alnum, 24),
            lambda: "AIza" + _rand(alnum + "_-", 35),
            lambda: "glpat-" + _rand(alnum, 20),
            lambda: "hf_" + _rand(alnum, 34),
        ]
    )()


def password() -> str:
    return us.password(length=rng.randint(8, 16))


# Sentences with one slot each; {} is the value. Several carry no keyword that names the value's kind.
TEMPLATES: dict[str, tuple[Callable[[], str], list[str]]] = {
    "EMAIL": (email, [
        "Please send the signed contract to {} before Friday.",
        "You can reach our support team at {} any time.",
        "My email is {}, thanks for following up.",
        "cc: {}",
        "The invoice bounced from {} so I'm resending it.",
        "Hi, it's Sam ({}) - I wanted to ask about the refund.",
        "Forwarding this to {} for review.",
    ]),
    "PHONE": (phone, [
        "Call me at {} if anything changes.",
        "My phone number is {}.",
        "Phone: {}",
        "You can reach the front desk on {} between 9 and 5.",
        "Our new office number is {}, please update the directory.",
        "Text {} when you arrive and I'll come down.",
        "Mobile: {} (evenings only)",
        "For urgent issues dial {}.",
        "Contact: Jane Miller, {}",
    ]),
    "CREDIT_CARD": (card, [
        "Please charge the order to my card {}, expiry 04/28.",
        "Card number: {}",
        "I paid with {} but the payment failed twice.",
        "The customer's Visa ending in the digits below was declined: {}.",
        "Use {} for the hotel deposit.",
        "cc {} exp 11/27 cvv on the back",
    ]),
    "IBAN": (iban, [
        "Please wire the refund to IBAN {}.",
        "Our bank details: {} (BIC on the invoice).",
        "Transfer the deposit to {} by the end of the month.",
        "Account: {}",
        "Can you confirm {} is the right account for payroll?",
    ]),
    "US_SSN": (ssn, [
        "My social security number is {}.",
        "SSN: {}",
        "Employee record: John Carter, DOB 1984-03-12, SSN {}.",
        "The form asks for {} in box 3.",
        "I typed {} into the tax form but it was rejected.",
    ]),
    "IP_ADDRESS": (ip, [
        "The server at {} stopped responding after the update.",
        "Login attempts came from {} last night.",
        "Whitelist {} in the firewall, please.",
        "ssh admin@{} -p 2222",
        "Our VPN gateway is {}.",
    ]),
    "MAC_ADDRESS": (mac, [
        "The device's MAC address is {}.",
        "Add {} to the DHCP reservation list.",
        "The laptop with {} keeps dropping off the network.",
    ]),
    "URL": (url, [
        "The full report is at {}.",
        "Check out {} for the schedule.",
        "I found the answer here: {}",
        "Our staging site ({}) is down again.",
        "Click {} to confirm your subscription.",
    ]),
    "AWS_ACCESS_KEY": (aws_access, [
        "export AWS_ACCESS_KEY_ID={}",
        "The leaked key {} has been rotated.",
        "aws_access_key_id = {}",
    ]),
    "AWS_SECRET_KEY": (aws_secret, [
        "export AWS_SECRET_ACCESS_KEY={}",
        "aws_secret_access_key = {}",
        "The secret for that user is {}, please store it in the vault.",
    ]),
    "API_KEY": (api_key, [
        "Here's my key: {}",
        "OPENAI_API_KEY={}",
        "curl -H 'Authorization: Bearer {}' https-api-call",
        "I accidentally pasted {} into the public channel.",
        "token: {}",
    ]),
    "PASSWORD": (password, [
        "password={}",
        "Login with user admin and password {}.",
        "My password is {} - can you check why it fails?",
        'config: {{"user": "svc", "password": "{}"}}',
        "DB_PASSWORD={}",
        "pwd: {}",
    ]),
}  # fmt: skip

FILLER = [
    "Thanks for the quick reply yesterday.",
    "Let me know if you need anything else from me.",
    "We moved the meeting to Thursday at 3pm.",
    "The quarterly numbers look better than expected.",
    "Sorry for the delay, I was travelling.",
    "",
    "",
]


def _rand_digits(n: int, first: str = "123456789") -> str:
    return rng.choice(first) + _rand("0123456789", n - 1)


def _luhn_bad(n: int) -> str:
    while True:
        value = "4" + _rand("0123456789", n - 1)
        total = sum(int(c) if i % 2 == 0 else sum(divmod(int(c) * 2, 10)) for i, c in enumerate(reversed(value)))
        if total % 10:
            return value


def _iban_bad() -> str:
    value = fakers[rng.choice(["en_GB", "de_DE", "fr_FR"])].iban()
    i = rng.randrange(4, len(value))
    repl = rng.choice([c for c in "0123456789" if c != value[i]]) if value[i].isdigit() else "Q"
    return value[:i] + repl + value[i + 1 :]


# Texts that hold no PII of the structured kinds but look like it.
BENIGN: list[Callable[[], str]] = [
    lambda: f"Your order ORD-{rng.randint(2019, 2026)}-{_rand_digits(6, '0123456789')} has shipped.",
    lambda: f"Order #{_rand_digits(8)} was delivered to the locker.",
    lambda: f"Tracking number 1Z{_rand(string.ascii_uppercase + string.digits, 16)} shows it in transit.",
    lambda: f"Invoice INV-{_rand_digits(6, '0123456789')} is due on {us.date()}.",
    lambda: f"The card number {_group(_luhn_bad(16), 4, ' ')} was rejected because it is not a valid number.",
    lambda: f"Reference {_luhn_bad(16)} could not be matched to any payment.",
    lambda: f"Account {_rand_digits(16, '1789')} was reconciled this morning.",
    lambda: f"The IBAN {_iban_bad()} failed validation, please double-check it.",
    lambda: f"Upgrade to version {rng.randint(1, 12)}.{rng.randint(0, 20)}.{rng.randint(0, 99)} before Monday.",
    lambda: (
        f"We run Python {rng.randint(2, 3)}.{rng.randint(6, 13)}.{rng.randint(0, 9)} and node v{rng.randint(14, 22)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}."
    ),
    lambda: f"Windows build 10.0.{rng.randint(10000, 26000)}.{rng.randint(100, 4000)} has the fix.",
    lambda: (
        f"firmware version {rng.randint(1, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 99)} is rolling out."
    ),
    lambda: f"The meeting is on {us.date()} at {us.time()}.",
    lambda: f"Logged at {us.iso8601()} with status 200.",
    lambda: f"Due date: {us.date(pattern='%d.%m.%Y')}, reminder on {us.date(pattern='%m/%d/%Y')}.",
    lambda: f"The total came to ${rng.randint(1, 999)},{rng.randint(100, 999)}.{rng.randint(10, 99)} including tax.",
    lambda: f"Population grew to {rng.randint(1, 99)},{rng.randint(100, 999)},{rng.randint(100, 999)} last year.",
    lambda: f"ISBN 978-{rng.randint(0, 9)}-{rng.randint(10, 99)}-{rng.randint(100000, 999999)}-{rng.randint(0, 9)}",
    lambda: f"Commit {us.sha1()} fixed the regression.",
    lambda: f"Request id {us.uuid4()} timed out.",
    lambda: (
        f"The SSN {rng.choice(['000', '666', '9' + _rand_digits(2, '0123456789')])}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)} is not a valid number."
    ),
    lambda: f"Address 999.{rng.randint(256, 999)}.1.1 is not a valid IP.",
    lambda: f"Coordinates {us.latitude()}, {us.longitude()}.",
    lambda: f"Room {rng.randint(100, 999)}, building {rng.randint(1, 9)}, floor {rng.randint(1, 30)}.",
    lambda: f"Zip code {us.zipcode()} is outside our delivery area.",
    lambda: f"Pi is roughly 3.{_rand_digits(10, '0123456789')}.",
    lambda: "Forgot your password? Click the reset link and choose a new one.",
    lambda: "The password: must be at least twelve characters long.",
    lambda: "Password is required for all admin accounts.",
    lambda: f"Follow @{us.user_name()} for updates.",
    lambda: f"The file {us.file_name()} is attached.",
    lambda: f"Color #{_rand('0123456789abcdef', 6)} is used for headings.",
    lambda: f"Part number {rng.randint(10, 99)}-{rng.randint(1000, 9999)}-{rng.randint(10, 99)} is out of stock.",
    lambda: f"Score: {rng.randint(1, 99)}-{rng.randint(1, 99)} at half time.",
    lambda: f"Run `kubectl scale --replicas={rng.randint(2, 9)}` then wait {rng.randint(10, 90)} seconds.",
    lambda: (
        f"The ratio was {rng.randint(1, 9)}:{rng.randint(1, 9)} and the time {rng.randint(10, 23)}:{rng.randint(10, 59)}:{rng.randint(10, 59)}."
    ),
    lambda: f"std::vector<int> v{{{rng.randint(1, 9)}, {rng.randint(1, 9)}}}; is fine in C++11.",
    lambda: f"Employee ID E{_rand_digits(7)} joined the team.",
    lambda: f"Case {_rand_digits(9)} has been escalated to tier 2.",
    lambda: "Use the environment variable OPENAI_API_KEY for the key; never commit it.",
]


def pii_sample(kind: str) -> dict[str, object]:
    make, templates = TEMPLATES[kind]
    value = make()
    template = rng.choice(templates)
    before, after = template.split("{}", 1) if "{}" in template else (template, "")
    before = before.replace("{{", "{").replace("}}", "}")
    after = after.replace("{{", "{").replace("}}", "}")
    lead = rng.choice(FILLER)
    prefix = (lead + " " if lead else "") + before
    text = prefix + value + after
    tail = rng.choice(FILLER)
    if tail:
        text += " " + tail
    return {"text": text, "spans": [{"start": len(prefix), "end": len(prefix) + len(value), "type": kind}]}


def main() -> None:
    rows: list[dict[str, object]] = []
    for kind in TEMPLATES:
        rows += [pii_sample(kind) for _ in range(60)]
    # Paragraphs with two or three values, to check spans stay apart.
    for _ in range(60):
        parts = [pii_sample(k) for k in rng.sample(list(TEMPLATES), rng.randint(2, 3))]
        text, spans = "", []
        for part in parts:
            offset = len(text) + (1 if text else 0)
            text = f"{text} {part['text']}" if text else str(part["text"])
            for span in part["spans"]:  # type: ignore[attr-defined]
                spans.append({**span, "start": span["start"] + offset, "end": span["end"] + offset})
        rows.append({"text": text, "spans": spans})
    for make in BENIGN:
        rows += [{"text": make(), "spans": []} for _ in range(8)]
    rng.shuffle(rows)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("".join(json.dumps(stored(r), ensure_ascii=False) + "\n" for r in rows))
    print(f"wrote {len(rows)} samples to {OUT}")


if __name__ == "__main__":
    main()
