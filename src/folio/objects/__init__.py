"""The content store: one read-only file per sha256, written once and never modified."""

from folio.objects.store import ObjectStore, VerifyingReader, is_oid

__all__ = ["ObjectStore", "VerifyingReader", "is_oid"]
