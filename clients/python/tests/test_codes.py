"""The error code table (kjournal._codes) against protocol/codes.json, the single source of truth."""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path
from types import ModuleType

import pytest

import kjournal
from kjournal import _codes, errors, protocol

from .conftest import CODES_PATH, load_json

CODES = load_json(CODES_PATH)
GENERATOR = Path(__file__).resolve().parents[1] / "scripts" / "gen_codes.py"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_codes", GENERATOR)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_generated_module_is_up_to_date() -> None:
    gen = load_generator()
    current = Path(_codes.__file__).read_text(encoding="utf-8")
    assert current == gen.render(CODES), "run clients/python/scripts/gen_codes.py"


@pytest.mark.parametrize("c", CODES["codes"], ids=[c["name"] for c in CODES["codes"]])
def test_code_has_its_class(c: dict[str, object]) -> None:
    cls = _codes.ERRORS_BY_CODE[c["code"]]  # type: ignore[index]
    assert cls.default_code == c["code"]
    assert cls.code_name == c["name"]
    assert cls.default_retryable is c["retryable"]
    assert cls.family == c["family"]
    assert _codes.ErrorCode[c["name"]] == c["code"]  # type: ignore[index]
    assert getattr(kjournal, cls.__name__) is cls, "exported from kjournal"
    assert issubclass(cls, kjournal.JournalError)
    err = cls("boom")
    assert (err.code, err.retryable, err.message) == (c["code"], c["retryable"], "boom")


def test_no_extra_codes() -> None:
    assert set(_codes.ERRORS_BY_CODE) == {c["code"] for c in CODES["codes"]}


def test_families_match() -> None:
    for fam in CODES["families"]:
        lo = int(fam["range"].split("-")[0])
        assert _codes.FAMILY_BY_HUNDREDS[lo // 100].family == fam["family"]


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (150, errors.ProtocolError),
        (299, errors.RequestError),
        (399, errors.FlowError),
        (450, errors.BackendError),
        (599, errors.InternalError),
        (999, errors.JournalError),
    ],
)
def test_unknown_codes_map_to_their_family(code: int, cls: type[errors.JournalError]) -> None:
    err = protocol.error_from_wire(code, "new in a later version", True)
    assert type(err) is cls
    assert err.code == code and err.retryable is True and err.code_name is None
    assert str(err) == f"code ({code}): new in a later version"


def test_wire_retryable_overrides_the_default() -> None:
    err = protocol.error_from_wire(303, "t", False)
    assert isinstance(err, kjournal.JournalTimeoutError) and err.retryable is False
    assert protocol.error_from_wire(303, "t").retryable is True


def test_error_str_repr_pickle() -> None:
    err = kjournal.InvalidSeqNrError("to: must be 1..", code=201, retryable=False)
    assert str(err) == "INVALID_SEQ_NR (201): to: must be 1.."
    assert "InvalidSeqNrError" in repr(err)
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err) and (back.code, back.message, back.retryable) == (201, "to: must be 1..", False)
    conn = kjournal.JournalConnectionError("lost")
    assert conn.code is None and conn.retryable is True and str(conn) == "lost"


def test_class_names_do_not_shadow_builtins() -> None:
    import builtins

    for cls in _codes.ERRORS_BY_CODE.values():
        assert not hasattr(builtins, cls.__name__), cls.__name__
