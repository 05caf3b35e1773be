"""The phone API's contract (served under ``/mobile/v1``): pydantic models, no database.

- `route`: my route (typed steps) and the route-changed notice of the SSE stream;
- `events`: the offline-first event batch and its per-event results;
- `keysafe`: revealing a key-safe (sleutelkluis) code, or the refusal;
- `bag`: the night bag (nachttas) template, check, status and restock list;
- `devices`: registering the nurse's phone;
- `proofs`: the DPoP proof of possession every call carries, and its refusal reasons;
  `dpop_client`: the reference implementation (RFC 9449);
- `endpoints`: the v1 endpoints; `openapi`: the committed document and the v1 check;
- `http`: ETag, SSE and no-store rules; `polyline`: a leg's line.

Units everywhere: timestamps UTC ISO 8601, seconds, metres, ``[lon, lat]``.
Examples for the phone's developers: ``mobile_contract/examples/*.json``.
"""
