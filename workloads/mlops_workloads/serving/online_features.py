"""Online feature completion through the platform's Feast feature server (HTTP), for any model.

What the store provides: the served version's contract features, read from ONE feature view (the model's
`features.featureView` in the stack file, ``SERVING_FEAST_FEATURE_VIEW``) by the contract's ``entity_column``, which
must be the view's join key. A request may send any contract feature itself; the lookup asks the server only for
``<view>:<feature>`` of those the request lacks. The first lookup for a contract asks for every contract feature,
so a view that lacks one fails clearly at first use (never as silent nulls later).

Upstream behaviour relied on: Feast 0.67.0, the version of workloads/uv.lock that the in-cluster server runs (the
training image); paths of the feast==0.67.0 wheel (feast-dev/feast sdk/python/feast/), with the same code at
feast-dev/feast tag v0.66.0 (the newest tag of the stored snapshot) in brackets:
- feature_server.py:123-128 [v0.66.0: 122] ``GetOnlineFeaturesRequest``: body ``{"entities": {<join key>: [ids]},
  "features": ["<view>:<feature>", ...]}``; feature_server.py:668-718 [610-653] ``POST /get-online-features``
  answers ``convert_response_to_dict`` (feature_server_utils.py:36 [27]): ``metadata.feature_names`` (join key
  first, then the features, NOT in request order) and ``results``, one column per name, with ``values`` and
  ``statuses`` per entity row; statuses (feature_server_utils.py:19-25 [18]) PRESENT, NULL_VALUE, NOT_FOUND (an
  unknown entity: value null), OUTSIDE_MAX_AGE; non-finite doubles come as the strings "NaN"/"Infinity".
- feature_server.py:1136-1148 [1070]: a ``FeastError`` answers its own status (an unknown view,
  ``FeatureViewNotFoundException``, errors.py:123 [123]: 404), anything else 500 with ``str(exc)`` (an unknown
  feature of a known view: "Feature <f> not found in projection <view>", feature_view_projection.py:163 [164]).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import httpx

from mlops_workloads.contract import ModelContract

ONLINE_FEATURES_PATH = "/get-online-features"
_PRESENT = "PRESENT"
_DETAIL_CHARS = 300  # of the server's error body, quoted in our own message


class FeatureStoreError(Exception):
    """The online store could not answer (down, timing out, misconfigured): the request gets a 503."""


class FeatureLookup(Protocol):
    """Online values of ``features`` per entity id, one dict per id in order (None where the store has none)."""

    def __call__(
        self, contract: ModelContract, entity_ids: Sequence[Any], features: Sequence[str]
    ) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...


def _value(value: Any, status: str) -> Any:
    """A present value as JSON gave it; absent (unknown entity, expired, null) and non-finite values are None."""
    if status != _PRESENT or value is None or isinstance(value, str):  # "NaN"/"Infinity" strings: no usable value
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class FeastFeatureServer:
    """A :class:`FeatureLookup` on the Feast feature server at ``url``, reading the feature view ``view``."""

    def __init__(self, url: str, view: str, *, timeout_seconds: float) -> None:
        self.url, self.view = url.rstrip("/"), view
        self._client = httpx.Client(base_url=self.url, timeout=timeout_seconds)
        self._checked: set[tuple[str, ...]] = set()  # feature sets the view is known to serve
        self._lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    def __call__(
        self, contract: ModelContract, entity_ids: Sequence[Any], features: Sequence[str]
    ) -> list[dict[str, Any]]:
        entity = contract.entity_column
        if entity is None:
            raise FeatureStoreError("the served contract has no entity_column: there is no key to look features up")
        with self._lock:
            first_use = contract.feature_names not in self._checked
        wanted = list(contract.feature_names if first_use else features)
        found = self._read(entity, list(entity_ids), wanted)
        if first_use:
            with self._lock:
                self._checked.add(contract.feature_names)
        return found

    def _read(self, entity: str, ids: list[Any], features: list[str]) -> list[dict[str, Any]]:
        body = {"entities": {entity: ids}, "features": [f"{self.view}:{f}" for f in features]}
        try:
            response = self._client.post(ONLINE_FEATURES_PATH, json=body)
        except httpx.TimeoutException as exc:
            raise FeatureStoreError(f"Feast feature server {self.url} did not answer in time ({exc!r})") from exc
        except httpx.HTTPError as exc:
            raise FeatureStoreError(f"Feast feature server {self.url} is unreachable ({exc!r})") from exc
        if response.status_code != httpx.codes.OK:
            detail = response.text[:_DETAIL_CHARS]
            raise FeatureStoreError(
                f"Feast feature server {self.url} refused features {features} of view {self.view!r} by {entity!r} "
                f"(HTTP {response.status_code}: {detail}); the view must exist in the server's project, have "
                f"{entity!r} as join key and every contract feature (SERVING_FEAST_FEATURE_VIEW, the model's "
                "features.featureView)"
            )
        return self._rows(response, len(ids), features)

    def _rows(self, response: httpx.Response, n_rows: int, features: list[str]) -> list[dict[str, Any]]:
        try:
            document = response.json()
            names = document["metadata"]["feature_names"]
            columns = dict(zip(names, document["results"], strict=True))
            rows: list[dict[str, Any]] = [{} for _ in range(n_rows)]
            for name in features:
                column = columns[name]
                for row, value, status in zip(rows, column["values"], column["statuses"], strict=True):
                    row[name] = _value(value, status)
        except (ValueError, KeyError, TypeError) as exc:
            raise FeatureStoreError(
                f"Feast feature server {self.url} answered {ONLINE_FEATURES_PATH} with an unexpected body ({exc!r})"
            ) from exc
        return rows
