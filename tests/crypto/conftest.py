"""Shared fixtures for the crypto tests: RSA keys are generated once per session."""

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from scapy_fama.crypto import KeyPair


@pytest.fixture(scope="session")
def rsa1024() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 1024)


@pytest.fixture(scope="session")
def rsa1536() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 1536)


@pytest.fixture(scope="session")
def kp1024(rsa1024: rsa.RSAPrivateKey) -> KeyPair:
    return KeyPair(rsa1024)


@pytest.fixture(scope="session")
def kp1536(rsa1536: rsa.RSAPrivateKey) -> KeyPair:
    return KeyPair(rsa1536)
