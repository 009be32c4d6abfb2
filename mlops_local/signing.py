"""Requests to the emulator carry SigV4's headers without computing the signature.

botocore signs every request (a canonical request, a SHA-256 of the payload, five HMACs) and nothing in the emulator
reads the signature: moto and the emulator's IAM checks read who is calling from the ``Credential`` scope and the
session token, as AWS does before it verifies. Signing was 5-8% of the interpreter's time in the demo and the
promotion tests (sampled with py-spy). While the emulator runs, botocore's header signer (``SigV4Auth``, the one
every JSON and query service uses) writes the same headers, ``Authorization`` with the same credential scope and
signed-header list included, with a placeholder where the signature goes. S3's signer, presigned URLs and every
other signer are botocore's own, unchanged.
"""

from __future__ import annotations

from typing import Any

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.compat import get_current_datetime
from botocore.exceptions import NoCredentialsError

from mlops_local.patching import Patcher, PatchPoint

PATCH_POINTS: tuple[PatchPoint, ...] = (
    PatchPoint(
        name="sigv4-headers-unsigned",
        module="botocore.auth",
        attribute="SigV4Auth.add_auth",
        signature="(self, request)",
        why="nothing in the emulator verifies a signature; computing one was 5-8% of the interpreter's time",
    ),
)

# Where AWS would find the hex HMAC-SHA256 of the string to sign: the same length, never a valid signature.
UNVERIFIED_SIGNATURE = "0" * 64


def header_auth(original: Any) -> Any:
    """``original`` (``SigV4Auth.add_auth``) for any subclass; for ``SigV4Auth`` itself, its headers unsigned."""

    def add_auth(self: SigV4Auth, request: Any) -> None:
        if type(self) is not SigV4Auth:  # S3's signer, presigned URLs (query auth), POST policies
            original(self, request)
            return
        if self.credentials is None:
            raise NoCredentialsError()
        request.context["timestamp"] = get_current_datetime().strftime(SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)  # X-Amz-Date, the session token; a retry's old header goes
        self._inject_signature_to_request(request, UNVERIFIED_SIGNATURE)

    return add_auth


def apply(patcher: Patcher) -> None:
    (point,) = PATCH_POINTS
    patcher.replace(point, header_auth(point.original()))
