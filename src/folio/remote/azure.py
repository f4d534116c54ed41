"""Azure Blob Storage remotes (``az://container/prefix`` and the forms obstore knows).

Credentials are never stored by folio. They come from the environment, in object_store's
order (``AZURE_STORAGE_TOKEN``, ``AZURE_STORAGE_ACCOUNT_KEY``, a workload identity or a
service principal from ``AZURE_CLIENT_ID`` / ``AZURE_TENANT_ID`` / ...,
``AZURE_STORAGE_SAS_TOKEN``), else from the Azure CLI (``az``, when it is on PATH and
``AZURE_USE_AZURE_CLI`` is not false), else from managed identity (the VM's metadata
service). A refusal names the credentials used; none found names every source looked in.
"""

from __future__ import annotations

import os
import re
import shutil
from typing import Any, ClassVar

from obstore.store import AzureStore

from folio.remote.objstore import RETRY, ObjectStoreBackend, client_options

# Azurite's well-known development account: published by Microsoft, not a secret.
EMULATOR_ACCOUNT = "devstoreaccount1"
EMULATOR_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
                "KBHBeksoGMGw==")
EMULATOR_ENDPOINT = f"http://127.0.0.1:10000/{EMULATOR_ACCOUNT}"
DEFAULT_MSI = "http://169.254.169.254/metadata/identity/oauth2/token"
# The environment variables object_store reads, per credential kind, in its order.
_ENV_SOURCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("bearer token", ("AZURE_STORAGE_TOKEN",)),
    ("account key", ("AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_ACCESS_KEY",
                     "AZURE_STORAGE_MASTER_KEY")),
    ("workload identity", ("AZURE_FEDERATED_TOKEN_FILE",)),
    ("service principal secret", ("AZURE_CLIENT_SECRET", "AZURE_STORAGE_CLIENT_SECRET")),
    ("SAS token", ("AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_SAS_KEY")),
)
_DENIED_CODES = frozenset({"AuthenticationFailed", "AuthorizationFailure",
                           "AuthorizationPermissionMismatch", "InvalidAuthenticationInfo",
                           "NoAuthenticationInformation", "AuthorizationPermissionDenied",
                           "AccountIsDisabled"})
_CREDENTIAL_REQUEST = re.compile(r"/metadata/identity|169\.254\.169\.254|IDENTITY_ENDPOINT|"
                                 r"login\.microsoftonline|oauth2|token", re.IGNORECASE)


class AzureBackend(ObjectStoreBackend):
    """Keys live under ``container/prefix/`` of one storage account."""

    PROVIDER = "Azure"
    MISSING_CODES = frozenset({"BlobNotFound"})
    DENIED_CODES = _DENIED_CODES
    HINTS: ClassVar[dict[str, str]] = {"ContainerNotFound": "the container does not exist",
             "ResourceNotFound": "the container or account does not exist"}
    CREDENTIAL_REQUEST = _CREDENTIAL_REQUEST

    def __init__(self, display: str, container: str, prefix: str = "", *,
                 account: str | None = None, endpoint: str | None = None,
                 allow_http: bool = False, emulator: bool = False) -> None:
        self.display = display
        self.container = container
        self.prefix = prefix.strip("/")
        kwargs: dict[str, Any] = {"prefix": self.prefix or None, "retry_config": RETRY}
        if emulator:
            # Azurite: its published account and key, at its default address unless the
            # endpoint option moves it; plain http is its only protocol.
            account = account or EMULATOR_ACCOUNT
            endpoint = endpoint or EMULATOR_ENDPOINT
            allow_http = True
            kwargs["account_key"] = EMULATOR_KEY
            self._credentials_used = "Azurite's published development key (emulator = true)"
        else:
            kwargs.update(self._chain())
        kwargs["client_options"] = client_options(allow_http)
        if account:
            kwargs["account_name"] = account
        if endpoint:
            kwargs["endpoint"] = endpoint
        self._store = self._configure(lambda: AzureStore(container, **kwargs))

    def describe(self) -> str:
        return self.display

    def _chain(self) -> dict[str, Any]:
        """Which source object_store will take (so messages can name it), and the CLI
        switch: obstore asks ``az`` only when told to, folio tells it when ``az`` is here."""
        for kind, names in _ENV_SOURCES:
            found = next((n for n in names if os.environ.get(n)), None)
            if found:
                self._credentials_used = f"{kind} from {found}"
                return {}
        if _cli_allowed():
            self._credentials_used = "the Azure CLI (az account get-access-token)"
            return {"use_azure_cli": True}
        self._credentials_used = None  # managed identity: found or not at the first request
        return {}

    def looked_for(self, *, failed: bool = False) -> str:
        names = "/".join(n for _, group in _ENV_SOURCES for n in group[:1])
        cli = ("Azure CLI (AZURE_USE_AZURE_CLI is false)" if _cli_flag() is False else
               "Azure CLI (az not on PATH)")
        msi = (os.environ.get("AZURE_MSI_ENDPOINT") or os.environ.get("IDENTITY_ENDPOINT")
               or DEFAULT_MSI)
        state = "unreachable or no identity" if failed else "tried last"
        return (f"credentials looked for: {names} (not set), {cli}, "
                f"managed identity at {msi} ({state})")


def _cli_flag() -> bool | None:
    value = os.environ.get("AZURE_USE_AZURE_CLI", "").strip().lower()
    if not value:
        return None
    return value in ("1", "true", "yes")


def _cli_allowed() -> bool:
    flag = _cli_flag()
    return flag is True or (flag is None and shutil.which("az") is not None)
