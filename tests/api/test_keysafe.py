"""Key-safe codes: encryption at rest, rotation, the reveal rules, and no code in any log.

Every code here is fictional ("FAKE0000" style); no fixture resembles a real code or person.
"""

from __future__ import annotations

import base64
import logging
import pickle
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest

from api.keysafe import (
    AccessLogEntry,
    Allowed,
    Assignment,
    EncryptedCode,
    IntegrityError,
    InvalidCodeError,
    Keyring,
    KeyringError,
    KeySafeCode,
    Refused,
    RevealFacts,
    decide_reveal,
    decrypt,
    distance_metres,
    effective_visit_end,
    encrypt,
    generate_key,
    handle_reveal,
    rotate,
    rotate_store,
)
from mobile_contract.keysafe import KeySafeRefusal, KeySafeRevealResponse, RefusalReason

CODE = "FAKE0000"
ETA = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
VISIT_END = ETA + timedelta(minutes=20)
MINUTE = timedelta(minutes=1)
REVEAL_ID = UUID("00000000-0000-4000-9000-000000000001")


def _key(fill: int) -> bytes:
    """A fixed, obviously fictional but non-degenerate 32-byte test key."""
    return bytes((fill + i * 7) % 256 for i in range(32))


def _keyring(active: str = "k1") -> Keyring:
    return Keyring({"k1": _key(1), "k2": _key(2)}, active)


ASSIGNMENT = Assignment(
    visit_id="V001", client_id="C-TEST-1", nurse_ids=frozenset({"N1"}), key_safe_present=True
)


def _decide(**overrides: object) -> Allowed | Refused:
    """The rules for nurse N1 on her phone D1, at her ETA, unless overridden."""
    arguments: dict[str, object] = {
        "now": ETA,
        "nurse_id": "N1",
        "device_id": "D1",
        "assignment": ASSIGNMENT,
        "eta": ETA,
        "visit_end": VISIT_END,
        "registered_device": "D1",
        "revoked": False,
        "distance_m": 20.0,
        "max_distance_m": None,
    }
    arguments.update(overrides)
    return decide_reveal(**arguments)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- encryption


def test_round_trip() -> None:
    """A code encrypted for a client decrypts to the same code."""
    keyring = _keyring()
    record = encrypt(KeySafeCode(CODE), "C-TEST-1", keyring)
    assert record.key_id == "k1"
    assert len(record.nonce) == 12
    assert decrypt(record, keyring).reveal() == CODE


def test_nonce_is_fresh_each_time() -> None:
    """The same code encrypted twice gives different nonces and ciphertexts."""
    keyring = _keyring()
    a = encrypt(KeySafeCode(CODE), "C-TEST-1", keyring)
    b = encrypt(KeySafeCode(CODE), "C-TEST-1", keyring)
    assert a.nonce != b.nonce and a.ciphertext != b.ciphertext


def test_tampered_ciphertext_is_detected() -> None:
    """One flipped bit in the ciphertext: IntegrityError, not a wrong code."""
    keyring = _keyring()
    record = encrypt(KeySafeCode(CODE), "C-TEST-1", keyring)
    flipped = bytes([record.ciphertext[0] ^ 1]) + record.ciphertext[1:]
    with pytest.raises(IntegrityError, match="integrity"):
        decrypt(replace(record, ciphertext=flipped), keyring)


def test_record_moved_to_another_client_is_detected() -> None:
    """A record copied onto another client fails: the client id is bound in."""
    keyring = _keyring()
    record = encrypt(KeySafeCode(CODE), "C-TEST-1", keyring)
    with pytest.raises(IntegrityError):
        decrypt(replace(record, client_id="C-TEST-2"), keyring)


def test_record_relabelled_with_another_key_id_is_detected() -> None:
    """A record whose key id is changed fails, even when that key is in the keyring."""
    keyring = _keyring()
    record = encrypt(KeySafeCode(CODE), "C-TEST-1", keyring)
    with pytest.raises(IntegrityError):
        decrypt(replace(record, key_id="k2"), keyring)


def test_unknown_key_id_is_a_keyring_error() -> None:
    """A record under a key no longer configured names the key id, not a tamper."""
    record = encrypt(KeySafeCode(CODE), "C-TEST-1", _keyring())
    with pytest.raises(KeyringError, match="'k1' is not in the keyring"):
        decrypt(record, Keyring({"k2": _key(2)}, "k2"))


def test_rotation_moves_every_record_to_the_new_key() -> None:
    """After rotate, every record is under k2, decrypts to its code, and k1 can go."""
    keyring = _keyring("k1")
    codes = {f"C-TEST-{i}": f"FAKE{i:04d}" for i in range(5)}
    records = [encrypt(KeySafeCode(c), client, keyring) for client, c in codes.items()]
    rotated = rotate(records, keyring, "k2")
    assert {r.key_id for r in rotated} == {"k2"}
    only_new = Keyring({"k2": _key(2)}, "k2")
    assert {r.client_id: decrypt(r, only_new).reveal() for r in rotated} == codes


def test_rotation_is_all_or_nothing() -> None:
    """One altered record stops the rotation before anything is written."""

    class Store:
        def __init__(self, records: list[EncryptedCode]) -> None:
            self.records = records
            self.writes = 0

        def all_records(self) -> Sequence[EncryptedCode]:
            return self.records

        def replace_all(self, records: Sequence[EncryptedCode]) -> None:
            self.writes += 1
            self.records = list(records)

    keyring = _keyring()
    good = encrypt(KeySafeCode(CODE), "C-TEST-1", keyring)
    bad = replace(encrypt(KeySafeCode(CODE), "C-TEST-2", keyring), client_id="C-TEST-3")
    store = Store([good, bad])
    with pytest.raises(IntegrityError):
        rotate_store(store, keyring, "k2")
    assert store.writes == 0
    store.records = [good]
    assert rotate_store(store, keyring, "k2") == 1
    assert store.records[0].key_id == "k2"


def test_keyring_from_env() -> None:
    """`kid:base64,kid:base64` plus the active id; one key needs no active id."""
    text = ",".join(
        f"{kid}:{base64.b64encode(_key(n)).decode()}" for kid, n in (("a", 1), ("b", 2))
    )
    keyring = Keyring.from_env(
        {"NACHTROUTE_KEYSAFE_KEYS": text, "NACHTROUTE_KEYSAFE_ACTIVE_KEY": "b"}
    )
    assert keyring.active_id == "b" and keyring.key_ids == ("a", "b")
    single = Keyring.from_env({"NACHTROUTE_KEYSAFE_KEYS": text.split(",")[0]})
    assert single.active_id == "a"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "is not set"),
        ({"NACHTROUTE_KEYSAFE_KEYS": "a:!!!"}, "not valid base64"),
        ({"NACHTROUTE_KEYSAFE_KEYS": "a:" + base64.b64encode(b"x" * 16).decode()}, "32 bytes"),
        ({"NACHTROUTE_KEYSAFE_KEYS": "a:" + base64.b64encode(bytes(32)).decode()}, "not random"),
        (
            {
                "NACHTROUTE_KEYSAFE_KEYS": "a:"
                + base64.b64encode(_key(1)).decode()
                + ",b:"
                + base64.b64encode(_key(2)).decode()
            },
            "name the active one",
        ),
        (
            {
                "NACHTROUTE_KEYSAFE_KEYS": "a:" + base64.b64encode(_key(1)).decode(),
                "NACHTROUTE_KEYSAFE_ACTIVE_KEY": "z",
            },
            "'z' is not in the keyring",
        ),
    ],
)
def test_bad_key_settings_are_refused(environ: dict[str, str], message: str) -> None:
    """Missing, malformed, short, all-zero or ambiguous keys: a KeyringError that says why."""
    with pytest.raises(KeyringError, match=message):
        Keyring.from_env(environ)


def test_generate_key_makes_a_usable_entry() -> None:
    """`generate_key` gives an entry the keyring accepts, different every time."""
    entry = generate_key("k2027")
    assert Keyring.parse(entry).active_id == "k2027"
    assert generate_key("k2027") != entry


def test_keyring_repr_shows_ids_not_keys() -> None:
    """A keyring in a log line shows its key ids only."""
    keyring = _keyring()
    assert repr(keyring) == "Keyring(key_ids=['k1', 'k2'], active='k1')"
    with pytest.raises(TypeError):
        pickle.dumps(keyring)


# --------------------------------------------------------------------------- the code object


def test_code_never_shows_in_repr_str_or_format() -> None:
    """repr, str, f-strings, %-formatting and containers all show asterisks."""
    code = KeySafeCode(CODE)
    record = encrypt(code, "C-TEST-1", _keyring())
    texts = [
        repr(code),
        str(code),
        f"{code}",
        f"{code!r}",
        "%s" % (code,),  # noqa: UP031
        repr([code]),
        repr(record),
    ]
    assert all(CODE not in text for text in texts)
    with pytest.raises(TypeError):
        pickle.dumps(code)


def test_invalid_code_error_does_not_echo_it() -> None:
    """A code that breaks the rules is refused without repeating it."""
    with pytest.raises(InvalidCodeError) as caught:
        KeySafeCode("FAKE 0000!")
    assert "FAKE" not in str(caught.value)


def test_codes_compare_in_constant_time_and_are_unhashable() -> None:
    """Equal codes compare equal; a code cannot become a dict or cache key."""
    assert KeySafeCode(CODE) == KeySafeCode(CODE)
    assert KeySafeCode(CODE) != KeySafeCode("FAKE0001")
    with pytest.raises(TypeError):
        hash(KeySafeCode(CODE))


# --------------------------------------------------------------------------- reveal rules


def test_assigned_nurse_in_her_window_is_allowed() -> None:
    """N1 on D1 at her ETA: allowed, until 15 minutes after the visit ends."""
    decision = _decide()
    assert decision == Allowed(opens_at=ETA - 30 * MINUTE, closes_at=VISIT_END + 15 * MINUTE)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"nurse_id": "N2"}, RefusalReason.NOT_ASSIGNED),
        ({"assignment": None}, RefusalReason.NOT_ASSIGNED),
        ({"now": ETA - 31 * MINUTE}, RefusalReason.TOO_EARLY),
        ({"now": VISIT_END + 16 * MINUTE}, RefusalReason.TOO_LATE),
        ({"device_id": "D9"}, RefusalReason.DEVICE_NOT_REGISTERED),
        ({"registered_device": None}, RefusalReason.DEVICE_NOT_REGISTERED),
        ({"revoked": True}, RefusalReason.DEVICE_REVOKED),
        ({"max_distance_m": 200.0, "distance_m": 900.0}, RefusalReason.TOO_FAR),
        ({"max_distance_m": 200.0, "distance_m": None}, RefusalReason.POSITION_REQUIRED),
        (
            {"assignment": replace(ASSIGNMENT, key_safe_present=False)},
            RefusalReason.NO_KEY_SAFE,
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_refusals_name_their_reason(overrides: dict[str, object], reason: RefusalReason) -> None:
    """Another nurse, outside the window, a foreign or revoked phone, too far: refused, why."""
    decision = _decide(**overrides)
    assert isinstance(decision, Refused)
    assert decision.reason == reason
    assert CODE not in decision.message


def test_window_edges_are_inclusive() -> None:
    """Exactly 30 minutes before the ETA and exactly 15 after the end are still allowed."""
    assert isinstance(_decide(now=ETA - 30 * MINUTE), Allowed)
    assert isinstance(_decide(now=VISIT_END + 15 * MINUTE), Allowed)
    assert isinstance(_decide(max_distance_m=200.0, distance_m=200.0), Allowed)


def test_too_early_says_when_to_retry() -> None:
    """A refusal for being early carries the moment the code becomes available."""
    decision = _decide(now=ETA - 2 * 60 * MINUTE)
    assert isinstance(decision, Refused) and decision.retry_after == ETA - 30 * MINUTE


def test_second_nurse_of_a_two_person_visit_is_allowed() -> None:
    """Both nurses of a two-person visit may see the code, each from her own phone."""
    two = replace(ASSIGNMENT, nurse_ids=frozenset({"N1", "N2"}))
    assert isinstance(
        _decide(assignment=two, nurse_id="N2", device_id="D2", registered_device="D2"), Allowed
    )


def test_the_window_never_closes_after_the_night() -> None:
    """However late the visit runs (a phone never completing it), the window closes at the
    latest 15 minutes after the night's end."""
    night_end = VISIT_END + 10 * MINUTE
    late = VISIT_END + 3 * 60 * MINUTE
    assert isinstance(
        _decide(now=night_end + 15 * MINUTE, visit_end=late, night_end=night_end), Allowed
    )
    decision = _decide(now=night_end + 16 * MINUTE, visit_end=late, night_end=night_end)
    assert isinstance(decision, Refused) and decision.reason == RefusalReason.TOO_LATE


def test_a_recorded_arrival_near_the_door_opens_the_window_early() -> None:
    """Arrived and within reach of the door: open before the ETA window; far away, or no
    arrival, or no position: still too early."""
    early = ETA - 50 * MINUTE
    arrived = early - 5 * MINUTE
    assert isinstance(_decide(now=early, arrived_at=arrived, distance_m=50.0), Allowed)
    for overrides in (
        {"arrived_at": arrived, "distance_m": 900.0},
        {"arrived_at": arrived, "distance_m": None},
        {"arrived_at": None, "distance_m": 10.0},
        {"arrived_at": arrived, "distance_m": 150.0, "max_distance_m": 100.0},
    ):
        decision = _decide(now=early, **overrides)
        assert isinstance(decision, Refused), overrides
        assert decision.reason in (RefusalReason.TOO_EARLY, RefusalReason.TOO_FAR)


def test_an_arrival_hours_before_the_eta_opens_nothing_early() -> None:
    """An "arrived" with a position at the door opens the window at most 60 minutes before
    the ETA, however early it was sent (the position is only the phone's word; red team s17,
    finding 04): at ETA - 2 h refused until ETA - 60 min, then allowed."""
    arrived = ETA - 4 * 60 * MINUTE
    for now in (arrived, ETA - 2 * 60 * MINUTE, ETA - 61 * MINUTE):
        decision = _decide(now=now, arrived_at=arrived, distance_m=5.0)
        assert isinstance(decision, Refused) and decision.reason == RefusalReason.TOO_EARLY
        assert decision.retry_after == ETA - 60 * MINUTE
    assert isinstance(_decide(now=ETA - 60 * MINUTE, arrived_at=arrived, distance_m=5.0), Allowed)


def test_only_the_reveal_call_decrypts_a_code() -> None:
    """One decision function for every path: outside `api.keysafe` no module decrypts a
    code, and `handle_reveal` (which calls `decide_reveal`) is the only way to one."""
    root = Path(__file__).parents[2] / "api"
    users = {
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "handle_reveal(" in path.read_text() or "keysafe.decrypt" in path.read_text()
    }
    assert users == {"keysafe.py", "services/mobile_backend.py"}
    for path in root.rglob("*.py"):
        if path.name != "keysafe.py":
            text = path.read_text()
            assert "decrypt(record" not in text and "import decrypt" not in text, path


def test_visit_end_for_the_window() -> None:
    """Completed: its end; under way: not before now; not started: the planned end."""
    planned = VISIT_END
    late = planned + 40 * MINUTE
    done = planned - 5 * MINUTE
    assert (
        effective_visit_end(planned_end=planned, started=True, completed_at=done, now=late) == done
    )
    assert (
        effective_visit_end(planned_end=planned, started=True, completed_at=None, now=late) == late
    )
    assert (
        effective_visit_end(planned_end=planned, started=False, completed_at=None, now=late)
        == planned
    )


def test_distance() -> None:
    """Units: metres; 0.001 degree of latitude is about 111 m; accuracy credited up to 100 m."""
    here = (6.5625, 52.9925)
    north = (6.5625, 52.9935)
    assert distance_metres(here, north) == pytest.approx(111.2, abs=0.5)
    assert distance_metres(here, north, accuracy_metres=50) == pytest.approx(61.2, abs=0.5)
    assert distance_metres(here, north, accuracy_metres=5000) == pytest.approx(11.2, abs=0.5)


# --------------------------------------------------------------------------- a whole test night


class _MemoryLog:
    def __init__(self) -> None:
        self.entries: list[AccessLogEntry] = []

    def write(self, entry: AccessLogEntry) -> None:
        self.entries.append(entry)


class _Codes:
    def __init__(self, records: dict[str, EncryptedCode]) -> None:
        self.records = records

    def record_for(self, client_id: str) -> EncryptedCode | None:
        return self.records.get(client_id)


def _facts(**overrides: object) -> RevealFacts:
    base = RevealFacts(
        assignment=ASSIGNMENT,
        eta=ETA,
        visit_end=VISIT_END,
        registered_device="D1",
        revoked=False,
        distance_m=35.4,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def test_handle_reveal_logs_every_reveal_and_refusal(caplog: pytest.LogCaptureFixture) -> None:
    """A night of requests: each logged once with outcome and reason; the code only in 200s."""
    caplog.set_level(logging.DEBUG)
    keyring = _keyring()
    codes = _Codes({"C-TEST-1": encrypt(KeySafeCode(CODE), "C-TEST-1", keyring)})
    log = _MemoryLog()
    results: list[KeySafeRevealResponse | KeySafeRefusal] = []
    requests = [
        ("N1", "D1", _facts(), ETA),
        ("N2", "D2", _facts(registered_device="D2"), ETA),
        ("N1", "D1", _facts(), ETA - 2 * 60 * MINUTE),
        ("N1", "D1", _facts(revoked=True), ETA),
        ("N1", "D1", _facts(distance_m=4000.0), ETA),
    ]
    for nurse, device, facts, now in requests:
        result = handle_reveal(
            reveal_id=REVEAL_ID,
            now=now,
            nurse_id=nurse,
            device_id=device,
            visit_id="V001",
            facts=facts,
            max_distance_m=250.0,
            codes=codes,
            keyring=keyring,
            access_log=log,
        )
        logging.getLogger("nachtroute.test").info("reveal result %s %r", result, result)
        results.append(result)
    rotate_store_log = logging.getLogger("api.keysafe")
    rotate_store_log.debug("keyring in use: %r", keyring)

    assert isinstance(results[0], KeySafeRevealResponse)
    assert results[0].code.get_secret_value() == CODE
    assert f'"code":"{CODE}"' in results[0].model_dump_json()
    assert results[0].forget_at == VISIT_END + 15 * MINUTE
    assert [r.reason for r in results[1:] if isinstance(r, KeySafeRefusal)] == [
        RefusalReason.NOT_ASSIGNED,
        RefusalReason.TOO_EARLY,
        RefusalReason.DEVICE_REVOKED,
        RefusalReason.TOO_FAR,
    ]
    assert [(e.outcome, e.reason) for e in log.entries] == [
        ("revealed", None),
        ("refused", "not_assigned"),
        ("refused", "too_early"),
        ("refused", "device_revoked"),
        ("refused", "too_far"),
    ]
    assert log.entries[0].key_id == "k1" and log.entries[0].distance_m == 35
    everything = caplog.text + repr(log.entries) + repr(results) + str(results)
    everything += " ".join(r.model_dump_json() for r in results[1:])
    assert CODE not in everything


def test_no_code_on_file_is_refused_and_logged() -> None:
    """A key safe without a stored code: refused as no_key_safe, logged."""
    log = _MemoryLog()
    result = handle_reveal(
        reveal_id=REVEAL_ID,
        now=ETA,
        nurse_id="N1",
        device_id="D1",
        visit_id="V001",
        facts=_facts(),
        max_distance_m=None,
        codes=_Codes({}),
        keyring=_keyring(),
        access_log=log,
    )
    assert isinstance(result, KeySafeRefusal) and result.reason == RefusalReason.NO_KEY_SAFE
    assert log.entries[0].outcome == "refused"


def test_tampered_record_is_logged_as_failed_and_raises() -> None:
    """An altered record: logged as failed, IntegrityError raised, no response built."""
    keyring = _keyring()
    record = encrypt(KeySafeCode(CODE), "C-TEST-1", keyring)
    bad = replace(record, ciphertext=bytes(len(record.ciphertext)))
    log = _MemoryLog()
    with pytest.raises(IntegrityError):
        handle_reveal(
            reveal_id=REVEAL_ID,
            now=ETA,
            nurse_id="N1",
            device_id="D1",
            visit_id="V001",
            facts=_facts(),
            max_distance_m=None,
            codes=_Codes({"C-TEST-1": bad}),
            keyring=keyring,
            access_log=log,
        )
    assert [(e.outcome, e.reason) for e in log.entries] == [("failed", "IntegrityError")]


def test_failing_access_log_means_no_code() -> None:
    """If the access log cannot be written, the request fails and no code is returned."""

    class BrokenLog:
        def write(self, entry: AccessLogEntry) -> None:
            raise OSError("access log unavailable")

    keyring = _keyring()
    with pytest.raises(OSError, match="access log"):
        handle_reveal(
            reveal_id=REVEAL_ID,
            now=ETA,
            nurse_id="N1",
            device_id="D1",
            visit_id="V001",
            facts=_facts(),
            max_distance_m=None,
            codes=_Codes({"C-TEST-1": encrypt(KeySafeCode(CODE), "C-TEST-1", keyring)}),
            keyring=keyring,
            access_log=BrokenLog(),
        )
