"""The translation catalogues: every message of the pages translated into simplified Chinese,
the services' errors keyed by their code, and a translation never naming a value the error
does not carry (it would fail when shown)."""

import datetime as dt
import string

from babel.messages.pofile import read_po

from endotrial.services import NotSignedIn, PermissionDenied
from endotrial.services.messages import MESSAGES
from endotrial.web import catalogue, i18n


def test_every_page_message_is_translated_into_chinese() -> None:
    lacking = catalogue.missing("zh_Hans", page_messages_only=True)
    assert not lacking, f"translate (python -m endotrial.web.catalogue update): {lacking}"


def test_the_catalogue_holds_every_error_code() -> None:
    with catalogue.po_path("zh_Hans").open("rb") as source:
        contexts = {message.context for message in read_po(source)}
    codes = set(MESSAGES) | set(i18n.WEB_MESSAGES)
    lacking = sorted(codes - contexts)
    assert not lacking, f"run `python -m endotrial.web.catalogue update` (new codes: {lacking})"


def _names(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_translations_use_only_the_errors_own_placeholders() -> None:
    with catalogue.po_path("zh_Hans").open("rb") as source:
        for message in read_po(source):
            if message.context and message.string:
                english = MESSAGES.get(message.context) or i18n.WEB_MESSAGES[message.context]
                assert _names(str(message.string)) <= _names(english) | {"field"}, message.context


def test_an_error_is_shown_in_the_readers_language() -> None:
    refusal = PermissionDenied("auth.throttled", username="coord.li", minutes=15)
    assert i18n.error_message(refusal, "en") == refusal.message
    assert i18n.error_message(refusal, "zh_Hans") == (
        "'coord.li' 登录失败次数过多：请等待 15 分钟，或请研究者在核实尝试者后解除该账户的锁定"
    )
    assert i18n.error_message(NotSignedIn("auth.not_signed_in"), "zh_Hans").startswith("此操作")


def test_every_error_code_is_translated_into_chinese() -> None:
    untranslated = sorted(code for code in MESSAGES if "zh_Hans|" + code not in _translated_keys())
    assert not untranslated, f"translate these codes in the zh_Hans catalogue: {untranslated}"
    refusal = PermissionDenied("membership.already", username="li", site=2)
    assert i18n.error_message(refusal, "zh_Hans") == "'li' 已在中心 2 工作"


def test_a_message_the_catalogue_lacks_falls_back_to_english() -> None:
    english = "a message added after the catalogue was translated"
    assert i18n.translations("zh_Hans").pgettext("no.such.code", english) == english


def _translated_keys() -> set[str]:
    with catalogue.po_path("zh_Hans").open("rb") as source:
        return {f"zh_Hans|{m.context}" for m in read_po(source) if m.context and m.string}


def test_dates_numbers_and_durations_follow_the_locale() -> None:
    day = dt.date(2025, 10, 6)
    assert i18n.date_text(day, "en") == "Oct 6, 2025"
    assert i18n.date_text(day, "zh_Hans") == "2025年10月6日"
    assert i18n.number_text(12345, "en") == "12,345"
    assert i18n.duration_text(dt.timedelta(hours=-30), "zh_Hans") == "30小时"
    assert i18n.language_of("zh-TW,zh;q=0.8") == "zh_Hans"
    assert i18n.language_of("fr-FR") is None
