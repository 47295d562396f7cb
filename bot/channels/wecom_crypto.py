"""WeCom's callback encryption (WXBizMsgCrypt), on the `cryptography` library.

WeCom (企业微信, and 政务微信 and the provinces' private deployments, which keep its API) signs
and encrypts what it sends to a self-built application's callback URL:

- the signature is SHA1 over the token, the timestamp, the nonce and the ciphertext, sorted
  as strings and joined without a separator, in lowercase hex;
- the ciphertext is Base64 of AES-256-CBC with the key from the EncodingAESKey (43 Base64
  characters plus "="), the IV the key's first 16 bytes, PKCS#7 padded to a multiple of 32;
- the plaintext is 16 random bytes, the message's length (4 bytes, network order), the
  message (UTF-8) and the receiver's id (the corp id), which must be ours.

Every failure is a `WecomCryptoError` naming what did not hold, never another exception:
the callback answers it with a 4xx and logs it, and the text of a forged request never
reaches the engine.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass, field
from typing import Final
from xml.etree import ElementTree

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK: Final = 32  # WeCom pads to 32 bytes, not AES's 16
RANDOM_PREFIX: Final = 16
MAX_ENCRYPTED_CHARS: Final = 1 << 20  # a callback body is small; refuse anything absurd


class WecomCryptoError(Exception):
    """A callback that does not verify or decrypt; `reason` says which check failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """WeCom's msg_signature of a callback: SHA1 over the four strings, sorted and joined."""
    joined = "".join(sorted((token, timestamp, nonce, encrypted)))
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key of an EncodingAESKey (43 characters, Base64 without its '=')."""
    if len(encoding_aes_key) != 43:
        raise WecomCryptoError("EncodingAESKey must be 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError) as error:
        raise WecomCryptoError("EncodingAESKey is not Base64") from error
    if len(key) != 32:
        raise WecomCryptoError("EncodingAESKey does not decode to 32 bytes")
    return key


def _pad(data: bytes) -> bytes:
    amount = BLOCK - len(data) % BLOCK
    return data + bytes([amount]) * amount


def _unpad(data: bytes) -> bytes:
    if not data:
        raise WecomCryptoError("empty plaintext")
    amount = data[-1]
    if not 1 <= amount <= BLOCK or data[-amount:] != bytes([amount]) * amount:
        raise WecomCryptoError("bad padding")
    return data[:-amount]


@dataclass(frozen=True, slots=True)
class WecomCrypto:
    """The callback's crypto for one application: its token, EncodingAESKey and corp id."""

    token: str
    encoding_aes_key: str = field(repr=False)
    receive_id: str  # the corp id (a self-built application's callbacks are addressed to it)

    @property
    def _key(self) -> bytes:
        return aes_key(self.encoding_aes_key)

    def _cipher(self) -> Cipher[modes.CBC]:
        key = self._key
        return Cipher(algorithms.AES(key), modes.CBC(key[:16]))

    def check_signature(self, given: str, timestamp: str, nonce: str, encrypted: str) -> None:
        expected = signature(self.token, timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected, given.lower()):
            raise WecomCryptoError("signature mismatch")

    def decrypt(self, encrypted: str) -> str:
        """The message inside a ciphertext addressed to us."""
        if len(encrypted) > MAX_ENCRYPTED_CHARS:
            raise WecomCryptoError("ciphertext too long")
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError) as error:
            raise WecomCryptoError("ciphertext is not Base64") from error
        if not raw or len(raw) % 16:
            raise WecomCryptoError("ciphertext is not whole AES blocks")
        decryptor = self._cipher().decryptor()
        plain = _unpad(decryptor.update(raw) + decryptor.finalize())
        if len(plain) < RANDOM_PREFIX + 4:
            raise WecomCryptoError("plaintext too short")
        (length,) = struct.unpack(">I", plain[RANDOM_PREFIX : RANDOM_PREFIX + 4])
        start = RANDOM_PREFIX + 4
        if start + length > len(plain):
            raise WecomCryptoError("message length beyond the plaintext")
        message, receiver = plain[start : start + length], plain[start + length :]
        if not hmac.compare_digest(receiver, self.receive_id.encode("utf-8")):
            raise WecomCryptoError("addressed to another corp id")
        try:
            return message.decode("utf-8")
        except UnicodeDecodeError as error:
            raise WecomCryptoError("message is not UTF-8") from error

    def encrypt(self, message: str, random_prefix: bytes | None = None) -> str:
        """A ciphertext of `message` addressed to our corp id (a fresh random prefix)."""
        prefix = random_prefix if random_prefix is not None else secrets.token_bytes(16)
        if len(prefix) != RANDOM_PREFIX:
            raise WecomCryptoError("the random prefix is 16 bytes")
        body = message.encode("utf-8")
        plain = prefix + struct.pack(">I", len(body)) + body + self.receive_id.encode("utf-8")
        encryptor = self._cipher().encryptor()
        raw = encryptor.update(_pad(plain)) + encryptor.finalize()
        return base64.b64encode(raw).decode("ascii")

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """The answer to WeCom's URL check (a GET with echostr): the echostr decrypted."""
        self.check_signature(msg_signature, timestamp, nonce, echostr)
        return self.decrypt(echostr)

    def decrypt_callback(self, body: str, msg_signature: str, timestamp: str, nonce: str) -> str:
        """The XML message inside a callback POST (whose body carries <Encrypt>)."""
        encrypted = _encrypt_element(body)
        self.check_signature(msg_signature, timestamp, nonce, encrypted)
        return self.decrypt(encrypted)

    def encrypt_callback(self, message: str, timestamp: str, nonce: str) -> str:
        """A callback body as WeCom sends it: <Encrypt>, <MsgSignature>, <TimeStamp>, <Nonce>."""
        encrypted = self.encrypt(message)
        root = ElementTree.Element("xml")
        for tag, text in (
            ("Encrypt", encrypted),
            ("MsgSignature", signature(self.token, timestamp, nonce, encrypted)),
            ("TimeStamp", timestamp),
            ("Nonce", nonce),
        ):
            ElementTree.SubElement(root, tag).text = text
        return ElementTree.tostring(root, encoding="unicode")


def _encrypt_element(body: str) -> str:
    if len(body) > MAX_ENCRYPTED_CHARS:
        raise WecomCryptoError("body too long")
    if "<!DOCTYPE" in body or "<!ENTITY" in body:  # no entity expansion, ever
        raise WecomCryptoError("body declares a DTD")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as error:
        raise WecomCryptoError("body is not XML") from error
    found = root.findtext("Encrypt")
    if not found:
        raise WecomCryptoError("body has no Encrypt")
    return found.strip()
