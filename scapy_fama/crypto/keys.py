"""RSA key pairs for CGA owners, and reading DER SubjectPublicKeyInfo.

Theory of operation: a CGA owner (MN, DAR) holds one RSA key. Its public half
travels inside the CGA Parameters as a DER SubjectPublicKeyInfo (RFC 3972 §3);
the private half signs Binding Updates with RSASSA-PKCS1-v1_5/SHA-1 (RFC 3972
§6, RFC 4866 §4.5) and decrypts the Permanent Home Keygen Token sent with
RSAES-PKCS1-v1_5 (RFC 4866 §4.7). A signature and a PHKT ciphertext are as
long as the modulus, and each travels unfragmented in one mobility option whose
data is at most 255 bytes (RFC 4866 §5.2, §5.3), so the modulus is at most
2040 bits. Fresh keys are 1024 or 1536 bits.

All RSA, padding and hashing is done by ``cryptography``. ``spki_length`` is the
one hand-written reader: it looks only at the DER SEQUENCE header, so that
dissectors can find where the key ends without parsing it.
"""

import os
from functools import lru_cache

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from scapy_fama.crypto.files import read_at_most

GENERATED_SIZES = (1024, 1536)
MAX_OPTION_DATA = 255  # RFC 4866 §5.2, §5.3: 8-bit Option Length, no fragmentation
MAX_MODULUS_BITS = MAX_OPTION_DATA * 8
PUBLIC_EXPONENT = 65537
MAX_PEM = 1 << 16  # bytes read of a key file: an RSA key's PEM is a few KB; more is no key


def _check_fits(bits: int) -> None:
    if bits > MAX_MODULUS_BITS:
        size = (bits + 7) // 8
        raise ValueError(
            f"RSA-{bits} gives a {size}-byte signature/PHKT, which does not fit a 255-byte "
            f"mobility option (RFC 4866 §5.2/§5.3); use RSA-1024 or RSA-1536"
        )


class KeyPair:
    """An RSA private key usable for RFC 4866 signatures and PHKT decryption."""

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ValueError(f"a CGA key must be RSA, got {type(private_key).__name__}")
        _check_fits(private_key.key_size)
        self._key = private_key
        self.public_der: bytes = private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @classmethod
    def generate(cls, bits: int = 1024) -> "KeyPair":
        """Generate a fresh key of 1024 or 1536 bits (public exponent 65537)."""
        if isinstance(bits, bool) or not isinstance(bits, int):  # "x" failed in a comparison
            raise TypeError(f"an RSA size is a whole number of bits (1024 or 1536), not {type(bits).__name__} {bits!r}")
        _check_fits(bits)
        if bits not in GENERATED_SIZES:
            raise ValueError(f"unsupported RSA size {bits}: supported sizes are 1024 and 1536 bits")
        return cls(rsa.generate_private_key(PUBLIC_EXPONENT, bits))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "KeyPair":
        """Load an unencrypted PEM PKCS#8 private key; ValueError ``PATH: problem`` if the file
        cannot be read or holds none."""
        data = read_at_most(path, MAX_PEM, "a PEM private key")
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise ValueError(f"{path}: not an unencrypted PEM private key ({exc})") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path}: a CGA key must be RSA, got {type(key).__name__}")
        return cls(key)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the key as unencrypted PEM PKCS#8, readable by the owner only (0600)."""
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)  # also when the file existed with wider rights
            f.write(pem)

    @property
    def bits(self) -> int:
        return self._key.key_size

    def sign(self, message: bytes) -> bytes:
        """RSASSA-PKCS1-v1_5 with SHA-1 (RFC 3972 §6 via RFC 3447 §8.2)."""
        return self._key.sign(message, padding.PKCS1v15(), hashes.SHA1())

    def decrypt(self, ciphertext: bytes) -> bytes:
        """RSAES-PKCS1-v1_5 decryption (RFC 3447 §7.2.2); ValueError on a bad length."""
        return self._key.decrypt(ciphertext, padding.PKCS1v15())

    def __repr__(self) -> str:
        return f"<KeyPair RSA-{self.bits}>"


def _load_public(der: bytes) -> object:
    try:
        return serialization.load_der_public_key(der)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"not a DER SubjectPublicKeyInfo ({exc})") from None


def public_der(key: KeyPair | bytes) -> bytes:
    """The DER SubjectPublicKeyInfo of ``key``: a KeyPair's public half, or DER bytes checked to
    be exactly one SubjectPublicKeyInfo (its header alone read: no parsing of the key)."""
    if isinstance(key, KeyPair):
        return key.public_der
    if not isinstance(key, (bytes, bytearray, memoryview)):
        raise TypeError(f"a public key is a KeyPair or DER bytes, not {type(key).__name__}")
    der = bytes(key)
    if spki_length(der) != len(der):
        raise ValueError("the public key must be exactly one DER SubjectPublicKeyInfo")
    return der


def public_key_from_der(der: bytes) -> rsa.RSAPublicKey:
    """Parse a DER SubjectPublicKeyInfo that must hold an RSA key (ValueError otherwise)."""
    return _rsa_key(bytes(der))


@lru_cache(maxsize=1024)  # one first BU checks the key's shape, the signature and encrypts to it
def _rsa_key(der: bytes) -> rsa.RSAPublicKey:
    key = _load_public(der)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"the public key is not RSA but {type(key).__name__}")
    return key


def rsa_shape(der: bytes) -> tuple[int, int]:
    """(modulus bits, public exponent) of a DER SubjectPublicKeyInfo holding an RSA key;
    ValueError otherwise. Parsing costs no RSA operation."""
    numbers = public_key_from_der(der).public_numbers()
    return numbers.n.bit_length(), numbers.e


def spki_info(der: bytes) -> tuple[str, int]:
    """Name the algorithm and key size of a DER SubjectPublicKeyInfo, for display.

    Returns ``("rsaEncryption", bits)`` or ``("id-ecPublicKey", bits)``; a key of
    another algorithm gives its ``cryptography`` class name and 0 bits. Raises
    ValueError when the bytes are not exactly one parsable public key.
    """
    key = _load_public(der)
    if isinstance(key, rsa.RSAPublicKey):
        return "rsaEncryption", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "id-ecPublicKey", key.key_size
    return type(key).__name__, 0


def spki_length(buf: bytes) -> int | None:
    """Total length of the DER SEQUENCE starting at ``buf[0]``, from its header alone.

    Returns header + content length, or None when the header is not a DER
    SEQUENCE header (tag 0x30, definite minimal length of at most 4 length
    bytes) or is cut short. The content itself is not read, so the result may
    exceed ``len(buf)``; the caller checks that. Never raises.
    """
    if len(buf) < 2 or buf[0] != 0x30:
        return None
    first = buf[1]
    if first < 0x80:  # X.690 §8.1.3.4 short form
        return 2 + first
    count = first & 0x7F  # X.690 §8.1.3.5 long form; 0x80 (indefinite) is not DER
    if not 1 <= count <= 4 or len(buf) < 2 + count:
        return None
    length = int.from_bytes(buf[2 : 2 + count], "big")
    if length < 0x80 or buf[2] == 0:  # X.690 §10.1: DER uses the fewest length octets
        return None
    return 2 + count + length
