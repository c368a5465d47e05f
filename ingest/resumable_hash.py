"""A SHA-256 whose state can be saved between requests and restarts (for resumable uploads).

Python's hashlib cannot export its state, and `rehash` (the PyPI package that pickles hashlib objects) refuses
OpenSSL 3, which Debian 12 ships. OpenSSL's low-level SHA256_Init/Update/Final are still exported by libcrypto 3
(deprecated, not removed), and their context is a plain public struct (openssl/sha.h `SHA256_CTX`) that we
allocate ourselves, so saving the state is copying its 112 bytes. Updates run at OpenSSL's speed (SHA-NI where
the CPU has it), the same code hashlib uses.

The saved state is tagged with the struct layout; :func:`load_sha256` answers None for a state it cannot use
(another layout, no libcrypto), and callers then hash the stored bytes again. :data:`AVAILABLE` says whether the
fast path works here; a self-test against hashlib decides at import time.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import logging

log = logging.getLogger(__name__)

# struct SHA256state_st { SHA_LONG h[8]; SHA_LONG Nl, Nh; SHA_LONG data[16]; unsigned int num, md_len; }
_CTX_SIZE = 8 * 4 + 2 * 4 + 16 * 4 + 2 * 4
_TAG = b"wk-sha256-ctx-v1:"


def _load_libcrypto() -> ctypes.CDLL | None:
    for name in (ctypes.util.find_library("crypto"), "libcrypto.so.3", "libcrypto.so"):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            for fn in ("SHA256_Init", "SHA256_Update", "SHA256_Final"):
                getattr(lib, fn)
        except (OSError, AttributeError):
            continue
        lib.SHA256_Init.argtypes = [ctypes.c_void_p]
        lib.SHA256_Init.restype = ctypes.c_int
        lib.SHA256_Update.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.SHA256_Update.restype = ctypes.c_int
        lib.SHA256_Final.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
        lib.SHA256_Final.restype = ctypes.c_int
        return lib
    return None


_LIB = _load_libcrypto()


class ResumableSha256:
    """SHA-256 with :meth:`state` / :func:`load_sha256`; use only when :data:`AVAILABLE`."""

    def __init__(self) -> None:
        if _LIB is None:
            raise RuntimeError("libcrypto's SHA256_* functions are not available")
        self._lib = _LIB
        self._ctx = ctypes.create_string_buffer(_CTX_SIZE)
        if self._lib.SHA256_Init(self._ctx) != 1:
            raise RuntimeError("SHA256_Init failed")

    def update(self, data: bytes) -> None:
        if data and self._lib.SHA256_Update(self._ctx, data, len(data)) != 1:
            raise RuntimeError("SHA256_Update failed")

    def state(self) -> bytes:
        return _TAG + self._ctx.raw

    def hexdigest(self) -> str:
        """The digest so far (the running state is left unchanged)."""
        ctx = ctypes.create_string_buffer(self._ctx.raw, _CTX_SIZE)
        out = ctypes.create_string_buffer(32)
        if self._lib.SHA256_Final(out, ctx) != 1:
            raise RuntimeError("SHA256_Final failed")
        return out.raw.hex()

    @classmethod
    def _from_raw(cls, raw: bytes) -> ResumableSha256:
        hasher = cls()
        ctypes.memmove(hasher._ctx, raw, _CTX_SIZE)
        return hasher


def new_sha256() -> ResumableSha256 | None:
    """A fresh resumable hasher, or None where this machine has no usable libcrypto."""
    return ResumableSha256() if AVAILABLE else None


def load_sha256(state: bytes | None) -> ResumableSha256 | None:
    """The hasher a saved state describes, or None when it cannot be resumed here."""
    if not AVAILABLE or state is None or not state.startswith(_TAG) or len(state) != len(_TAG) + _CTX_SIZE:
        return None
    return ResumableSha256._from_raw(state[len(_TAG):])


def _self_test() -> bool:
    if _LIB is None:
        return False
    try:
        data = bytes(range(256)) * 41  # crosses block boundaries at odd places
        first = ResumableSha256()
        first.update(data[:1001])
        resumed = ResumableSha256._from_raw(first.state()[len(_TAG):])
        resumed.update(data[1001:])
        return resumed.hexdigest() == hashlib.sha256(data).hexdigest() and \
            first.hexdigest() == hashlib.sha256(data[:1001]).hexdigest()
    except (RuntimeError, ValueError, OSError):
        return False


AVAILABLE = _self_test()
if not AVAILABLE:
    log.warning("resumable SHA-256 unavailable (no libcrypto SHA256_*): finished uploads are hashed again")
