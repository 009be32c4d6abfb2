"""KMS as AWS answers it where moto differs: a signature that does not verify is an error, not a false.

AWS's Verify API reference: "If the signature verification fails, the Verify operation fails with an
KMSInvalidSignatureException exception"; ``SignatureValid`` is only ever true. moto answers
``SignatureValid: false``, so code that checks only the flag passes on moto and meets an exception on AWS.
"""

from __future__ import annotations

from typing import Any

from mlops_local.patching import Patcher, PatchPoint, points_by_name

PATCH_POINTS: tuple[PatchPoint, ...] = (
    PatchPoint(
        name="kms-verify-invalid-signature",
        module="moto.kms.models",
        attribute="KmsBackend.verify",
        signature=(
            "(self, key_id: str, message: bytes, signature: bytes, signing_algorithm: str) -> tuple[str, bool, str]"
        ),
        why="AWS fails Verify with KMSInvalidSignatureException when the signature does not verify; moto returns false",
    ),
)


def _invalid_signature() -> Exception:
    from moto.core.exceptions import JsonRESTError

    class KMSInvalidSignatureException(JsonRESTError):  # noqa: N818  (AWS's error code)
        code = 400

    return KMSInvalidSignatureException(
        "KMSInvalidSignatureException",
        "The request was rejected because the signature verification failed.",
    )


def apply(patcher: Patcher) -> None:
    point = points_by_name(PATCH_POINTS)["kms-verify-invalid-signature"]
    original = point.original()

    def verify(backend: Any, key_id: str, message: bytes, signature: bytes, signing_algorithm: str) -> Any:
        arn, valid, algorithm = original(backend, key_id, message, signature, signing_algorithm)
        if not valid:
            raise _invalid_signature()
        return arn, valid, algorithm

    patcher.replace(point, verify)
