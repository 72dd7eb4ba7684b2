"""drf-spectacular post-processing: document the error answers every operation can give.

Views document their success answers (and their own special cases); the
refusals that come from shared machinery are added here, once, so the schema
matches what a client really receives and tools that fuzz the API against it
(``tests/security/test_openapi_fuzz.py``) hold the API to it:

* session-authenticated operations: 403 (not signed in, not an operator);
* bot-token operations: 401 (no or wrong token), 403 (another bot's channel);
* a ``{conversation_id}``: 404 (unknown, or not visible to this user);
* a visitor ``{token}``: 403 (not issued here, altered, or too old);
* a request body or query parameters: 400 (invalid input);
* every operation: 503 (the database did not answer; retry).
"""

from __future__ import annotations

ERROR_SCHEMA = {
    "type": "object",
    "properties": {"detail": {"type": "string", "description": "A message meant for the user."}},
    "required": ["detail"],
}


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _refusals(path: str, operation: dict) -> dict[str, str]:
    schemes = {name for requirement in operation.get("security", []) for name in requirement}
    refusals: dict[str, str] = {}
    if "cookieAuth" in schemes:
        refusals["403"] = "Not signed in, or not an operator."
    if "chatbotToken" in schemes:
        refusals["401"] = "No chatbot token, or not a valid one."
        refusals["403"] = "The chatbot is switched off, or the open channel does not use it."
    if "{token}" in path:
        refusals["403"] = "The visitor token was not issued here, was altered, or is too old."
    if "{conversation_id}" in path:
        refusals["404"] = "No such conversation, or not one this user may see."
    if operation.get("requestBody") or any(p.get("in") == "query" for p in operation.get("parameters", [])):
        refusals["400"] = "Invalid input; the answer says which field and why."
    refusals["503"] = "The database did not answer; nothing was changed. Retry later (see Retry-After)."
    return refusals


def document_error_responses(result: dict, generator, request, public) -> dict:
    result.setdefault("components", {}).setdefault("schemas", {}).setdefault("Error", ERROR_SCHEMA)
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in _refusals(path, operation).items():
                responses.setdefault(status, _error(description))
    return result
