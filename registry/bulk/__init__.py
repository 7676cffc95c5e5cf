"""Bulk import of citizen records: streamed, validated like the API, resumable, audited."""
