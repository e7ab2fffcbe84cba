"""Calls to connected services: short timeouts, and every failure turned into one line a person can act
on (integrations.base.ServiceError and its kinds). Nothing here retries: a form waits for at most
FORM_TIMEOUT, and the clock's polling simply tries again on its next pass."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import urlsplit

import httpx

from integrations.base import (
    BadCredentials,
    MissingScope,
    NotFound,
    RateLimited,
    ServiceError,
    TimedOut,
    Unreachable,
)

log = logging.getLogger(__name__)

# Slack gives a form 3 seconds; a service's answer has to fit in what is left.
FORM_TIMEOUT = 2.0
# Calls run here so that the caller waits at most the deadline, whatever the service does.
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="integration")


def timeout() -> float:
    """PARTNERBOT_INTEGRATION_TIMEOUT (seconds) may shorten it, never lengthen it past FORM_TIMEOUT."""
    raw = os.environ.get("PARTNERBOT_INTEGRATION_TIMEOUT", "").strip()
    try:
        value = float(raw) if raw else FORM_TIMEOUT
    except ValueError:
        value = FORM_TIMEOUT
    return max(0.1, min(value, FORM_TIMEOUT))


def host_of(url: str) -> str:
    return urlsplit(url).netloc or url


def check_base_url(url: str, field: str) -> str:
    """An https:// base URL (http:// only for this machine: a local test server), without a trailing /."""
    url = (url or "").strip().rstrip("/")
    parts = urlsplit(url)
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme == "https" and parts.hostname or parts.scheme == "http" and local:
        return url
    raise ServiceError(f"That isn't an https:// address (you typed “{url[:200]}”).", field=field)


def request(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    json: Any = None,
    auth: tuple[str, str] | None = None,
    what: str = "",
    token_field: str | None = None,
    accept: tuple[int, ...] = (),
) -> httpx.Response:
    """The service's answer when it is a success (2xx); ServiceError otherwise. `what` names the service
    in messages ("GitHub"); `token_field` is the connect form field blamed for a refused token; statuses in
    `accept` are returned for the caller to read (GraphQL's errors come with 400)."""
    what = what or host_of(url)
    limit = timeout()
    # httpx's timeouts bound each phase (connect, each read); the deadline bounds the whole exchange, so a
    # service trickling its answer byte by byte still can't hold a form past `limit`.
    call = _POOL.submit(
        httpx.request,
        method,
        url,
        headers=headers,
        json=json,
        auth=auth,
        timeout=httpx.Timeout(limit),
        follow_redirects=False,
    )
    try:
        response = call.result(timeout=limit)
    except FutureTimeout:
        call.cancel()
        raise TimedOut(f"{what} didn't answer within {limit:g} s; try again in a moment.") from None
    except httpx.TimeoutException:
        raise TimedOut(f"{what} didn't answer within {limit:g} s; try again in a moment.") from None
    except (httpx.ConnectError, httpx.NetworkError, httpx.UnsupportedProtocol, httpx.InvalidURL) as e:
        log.info("%s %s: %s", method, host_of(url), e)
        raise Unreachable(f"Can't reach {host_of(url)}: check the address and that it is up.") from None
    except httpx.HTTPError as e:
        log.info("%s %s: %s", method, host_of(url), e)
        raise Unreachable(f"{what} answered in a way I couldn't read ({type(e).__name__}).") from None
    status = response.status_code
    if 200 <= status < 300 or status in accept:
        return response
    if status == 429 or (status == 403 and response.headers.get("x-ratelimit-remaining") == "0"):
        wait = response.headers.get("retry-after") or ""
        later = f" for {wait} s" if wait.isdigit() else ""
        raise RateLimited(f"{what} is rate-limiting us{later}; try again later.")
    if status == 401:
        raise BadCredentials(f"{what} refused the token (401): check it was copied whole.", field=token_field)
    if status == 403:
        raise MissingScope(
            f"{what} said the token may not do this (403): it is missing a scope or permission.",
            field=token_field,
        )
    if status == 404:
        raise NotFound(f"{what} has no such thing, or the token can't see it (404).")
    if status >= 500:
        raise Unreachable(f"{what} is having trouble (it answered {status}); try again later.")
    raise ServiceError(f"{what} answered {status}.")
