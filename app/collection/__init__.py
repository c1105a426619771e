"""The local card collection: SQLite store, CSV export and import."""

from app.collection.store import CONDITIONS, FINISHES, Collection, CollectionError, InventoryKey, ScanRecord

__all__ = ["CONDITIONS", "FINISHES", "Collection", "CollectionError", "InventoryKey", "ScanRecord"]
