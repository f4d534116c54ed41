"""S3 and S3-compatible remotes (AWS, MinIO, Ceph, R2, moto) through obstore.

Requests, streaming, retries and error mapping are shared with the other object stores
(:mod:`folio.remote.objstore`); this module builds the S3 client and knows AWS's
credential chain.

Credentials are never stored by folio: they come from the standard AWS environment
variables, web identity / container / instance roles (obstore's own chain), or, when boto3
is installed, an AWS profile (``profile`` option, ``AWS_PROFILE`` or ``~/.aws`` files).
A refusal (401/403) names the credentials used; none found names every source looked in
(docs/remotes.md, "Credential errors"). Never a secret value.
"""

from __future__ import annotations

import os
import re
from typing import Any, ClassVar

from obstore.store import S3Store

from folio.errors import RemoteError
from folio.remote.objstore import ObjectStoreBackend, store_kwargs

# Refusals of the credentials themselves (or of what they may do): the message then says
# which credentials were used, or which were looked for when none were found.
_DENIED_CODES = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                           "ExpiredToken", "InvalidToken", "TokenRefreshRequired",
                           "AllAccessDisabled"})
# Requests obstore's own credential chain makes (instance metadata, container, STS): an
# error there means no credentials were found before it, and this source failed too.
_CREDENTIAL_REQUEST = re.compile(r"/latest/api/token|/latest/meta-data|169\.254\.170\.2|"
                                 r"AssumeRoleWithWebIdentity|sts\.[a-z0-9-]*amazonaws|"
                                 r"credential", re.IGNORECASE)
DEFAULT_METADATA = "http://169.254.169.254"


class S3Backend(ObjectStoreBackend):
    """Keys live under ``s3://bucket/prefix/``."""

    PROVIDER = "AWS"
    MISSING_CODES = frozenset({"NoSuchKey"})
    DENIED_CODES = _DENIED_CODES
    HINTS: ClassVar[dict[str, str]] = {"NoSuchBucket": "the bucket does not exist"}
    CREDENTIAL_REQUEST = _CREDENTIAL_REQUEST

    def __init__(self, bucket: str, prefix: str = "", *, endpoint: str | None = None,
                 region: str | None = None, profile: str | None = None,
                 allow_http: bool = False) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._credentials_used: str | None = None
        kwargs = store_kwargs(self.prefix, allow_http)
        if endpoint:
            kwargs["endpoint"] = endpoint
        if region:
            kwargs["region"] = region
        if endpoint:
            # obstore lets AWS_ENDPOINT_URL_S3 override ``endpoint`` silently; the endpoint
            # chosen here (config, else environment: folio.remote.urls) is the one used.
            kwargs["aws_endpoint_url_s3"] = endpoint

        def build() -> S3Store:
            provider, self._credentials_used = _credentials(profile)
            return S3Store(bucket, credential_provider=provider, **kwargs)

        self._store = self._configure(build)

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def looked_for(self, *, failed: bool = False) -> str:
        return _credential_report(failed=failed)


def _credential_report(*, failed: bool = False) -> str:
    """Every source looked in, with what was found there.

    obstore's chain (object_store's AmazonS3Builder) reads, in order: the AWS_ACCESS_KEY_ID
    variables, a web identity token, container credentials, then instance metadata; folio
    puts boto3's profile chain before it when boto3 is installed (:func:`_credentials`).
    """
    env = os.environ
    profile = env.get("AWS_PROFILE")
    files = env.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")
    if _has_boto3():
        profiles = (f"profile {profile!r} (AWS_PROFILE) in {files} (not found)" if profile
                    else f"AWS_PROFILE (not set) / default profile in {files} (not found)")
    else:
        profiles = "AWS profiles in ~/.aws (not read: boto3 is not installed)"
    web = ("web identity (AWS_WEB_IDENTITY_TOKEN_FILE set)"
           if env.get("AWS_WEB_IDENTITY_TOKEN_FILE") else
           "web identity (AWS_WEB_IDENTITY_TOKEN_FILE not set)")
    container = ("container credentials (AWS_CONTAINER_CREDENTIALS_* set)"
                 if env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
                 or env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI") else
                 "container credentials (AWS_CONTAINER_CREDENTIALS_* not set)")
    metadata = env.get("AWS_METADATA_ENDPOINT") or DEFAULT_METADATA
    state = "unreachable or no role" if failed else "tried last"
    return ("credentials looked for: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (not set), "
            f"{profiles}, {web}, {container}, instance metadata at {metadata} ({state})")


def _has_boto3() -> bool:
    import importlib.util

    return importlib.util.find_spec("boto3") is not None


def _credentials(profile: str | None) -> tuple[Any, str | None]:
    """A boto3-backed credential provider where the AWS profile chain applies, else None;
    and where the credentials come from, for error messages (None: obstore's own chain).

    obstore alone reads AWS_* variables, web identity, container and instance roles but not
    ``~/.aws`` profiles; boto3 (optional) covers those, including SSO and assume-role.
    """
    if not profile and os.environ.get("AWS_ACCESS_KEY_ID"):
        # environment keys: obstore's fast path, no boto3 needed
        return None, "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY from the environment"
    try:
        import boto3
        import botocore.exceptions
        from obstore.auth.boto3 import Boto3CredentialProvider
    except ImportError:
        if profile:
            raise RemoteError(f"the profile option ({profile!r}) needs boto3: "
                              "pip install boto3") from None
        return None, None
    try:
        session = boto3.Session(profile_name=profile)
        found = session.get_credentials()
        if found is None:
            return None, None  # let obstore try instance and container roles
        name = profile or os.environ.get("AWS_PROFILE")
        where = f"AWS profile {name!r}" if name else "boto3's default chain"
        return Boto3CredentialProvider(session), f"{where} (found by boto3: {found.method})"
    except botocore.exceptions.BotoCoreError as exc:
        raise RemoteError(f"AWS profile {profile!r}: {exc}") from None
