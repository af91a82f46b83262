"""Requests done once (a form posted twice, an API POST retried with its `Idempotency-Key`):
the store's request keys over the study's database, shared by every server process."""

from __future__ import annotations

from datetime import timedelta

from endotrial.services.context import Study
from endotrial.store.request_keys import KeptAnswer, claim_request, finish_request

__all__ = ["KeptAnswer", "claim_request_key", "finish_request_key"]


def claim_request_key(
    study: Study, digest: str, owner: str, body_sha256: str, working_for: timedelta
) -> KeptAnswer | bool:
    """True: claimed, do the request and finish it; its kept answer when done already;
    False while another request (in any process) holds the key."""
    return claim_request(study.engine, digest, owner, body_sha256, working_for)


def finish_request_key(
    study: Study,
    digest: str,
    answer: KeptAnswer | None,
    kept_for: timedelta,
    max_per_owner: int,
) -> None:
    """Keep the claimed request's answer (None: nothing saved, the key is freed)."""
    finish_request(study.engine, digest, answer, kept_for, max_per_owner)
