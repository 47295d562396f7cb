"""WeCom's callback crypto against the official sample vectors, both ways, and forged input.

The vectors: Tencent's WeCom server-API sample for Python (weworkapi_python, callback/
Sample.py: the URL check and a callback POST of the corp ww1436e0e65a779aee), and for the
encrypting direction with a fixed random prefix, the WXBizMsgCrypt test of WeChat's own Java
sample (the same scheme, addressed to an app id instead of a corp id).
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.channels.wecom_crypto import WecomCrypto, WecomCryptoError, aes_key, signature

SAMPLE = WecomCrypto(
    token="hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
    encoding_aes_key="6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
    receive_id="ww1436e0e65a779aee",
)
URL_CHECK = {
    "msg_signature": "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb",
    "timestamp": "1476416373",
    "nonce": "47744683",
    "echostr": (
        "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA=="
    ),
}
POST_BODY = (
    "<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName>\n<Encrypt><![CDATA["
    "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3Nye"
    "TkAgGzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0"
    "VJPQbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ"
    "7MhmEbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGX"
    "Ayh+/oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+]]></Encrypt>\n"
    "<AgentID><![CDATA[1000002]]></AgentID>\n</xml>"
)
POST_QUERY = ("0c3914025cb4b4d68103f6bfc8db550f79dcf48e", "1476422779", "1597212914")
POST_MESSAGE = (
    "<xml><ToUserName>ww1436e0e65a779aee</ToUserName><FromUserName>ChenJiaShun</FromUserName>"
    "<CreateTime>1476422779</CreateTime><MsgType>text</MsgType><Content>你好</Content>"
    "<MsgId>1456453720</MsgId><AgentID>1000002</AgentID></xml>"
)


def test_url_check_of_the_official_sample_answers_its_echostr() -> None:
    assert SAMPLE.verify_url(**URL_CHECK) == "1288432023552776189"


def test_callback_of_the_official_sample_decrypts_to_its_message() -> None:
    assert SAMPLE.decrypt_callback(POST_BODY, *POST_QUERY) == POST_MESSAGE


def test_encrypting_with_the_samples_random_prefix_gives_the_samples_ciphertext() -> None:
    wechat_sample = WecomCrypto(
        token="pamtest",
        encoding_aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        receive_id="wxb11529c136998cb6",
    )

    encrypted = wechat_sample.encrypt("我是中文abcd123", random_prefix=b"aaaabbbbccccdddd")

    assert encrypted == (
        "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
    )
    assert wechat_sample.decrypt(encrypted) == "我是中文abcd123"


def test_a_callback_we_encrypt_decrypts_with_a_fresh_prefix_each_time() -> None:
    first = SAMPLE.encrypt_callback(POST_MESSAGE, "1476422779", "1597212914")
    second = SAMPLE.encrypt_callback(POST_MESSAGE, "1476422779", "1597212914")
    assert first != second  # 16 random bytes lead every plaintext

    for body in (first, second):
        sign = body.split("<MsgSignature>")[1].split("</MsgSignature>")[0]
        assert SAMPLE.decrypt_callback(body, sign, "1476422779", "1597212914") == POST_MESSAGE


def test_signature_is_sha1_over_the_four_strings_sorted() -> None:
    import hashlib

    parts = ("b-token", "1476422779", "a-nonce", "c-encrypted")
    expected = hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()
    assert signature(*parts) == expected


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"msg_signature": "0" * 40}, "signature mismatch"),
        ({"timestamp": "1476416374"}, "signature mismatch"),
        ({"nonce": "47744684"}, "signature mismatch"),
    ],
)
def test_a_url_check_whose_signature_does_not_hold_is_refused(
    change: dict[str, str], reason: str
) -> None:
    with pytest.raises(WecomCryptoError) as refused:
        SAMPLE.verify_url(**(URL_CHECK | change))
    assert refused.value.reason == reason


def test_a_message_for_another_corp_is_refused() -> None:
    other = WecomCrypto(SAMPLE.token, SAMPLE.encoding_aes_key, "ww0000000000000000")
    with pytest.raises(WecomCryptoError, match="another corp id"):
        other.decrypt_callback(POST_BODY, *POST_QUERY)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not xml at all", "body is not XML"),
        ("<xml><ToUserName>x</ToUserName></xml>", "body has no Encrypt"),
        (
            '<!DOCTYPE xml [<!ENTITY e "x">]><xml><Encrypt>&e;</Encrypt></xml>',
            "body declares a DTD",
        ),
    ],
)
def test_a_malformed_callback_body_is_refused(body: str, reason: str) -> None:
    with pytest.raises(WecomCryptoError) as refused:
        SAMPLE.decrypt_callback(body, *POST_QUERY)
    assert refused.value.reason == reason


@pytest.mark.parametrize("key", ["short", "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhU!", "6" * 44])
def test_an_encoding_aes_key_that_is_not_43_base64_characters_is_refused(key: str) -> None:
    with pytest.raises(WecomCryptoError, match="EncodingAESKey"):
        aes_key(key)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_text_survives_encrypting_and_decrypting(message: str) -> None:
    assert SAMPLE.decrypt(SAMPLE.encrypt(message)) == message


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300).map(base64.b64encode)))
def test_anything_else_fails_only_with_a_named_reason(garbage: str | bytes) -> None:
    text = garbage.decode("ascii") if isinstance(garbage, bytes) else garbage
    try:
        SAMPLE.decrypt(text)
    except WecomCryptoError as refused:
        assert refused.reason
