"""Receiving bytes: SHA-256 on the way in, originals stored once, the storage interface and its two backends."""
