"""Finishing touches on the generated OpenAPI schema, so it documents what the service really does.

* Limits: k and the query length come from Settings (max_k, max_query_chars), so the request models
  carry markers that :func:`document_limits` replaces with the running service's values. Mode is an
  enum. Pipeline.validate enforces all of them with messages a person understands; pydantic only
  checks types.
* 422 bodies: errors.py turns every validation error into ``{"detail": str}``, so every 422 response
  is documented as ``ErrorOut`` instead of FastAPI's list-of-objects ``HTTPValidationError``.
"""

from __future__ import annotations

from typing import Any

from crps_qa.settings import Settings

# At least one character that is not whitespace to Python's str.split(), written so ECMA-262 regex
# engines (JSON Schema's) agree: their \s lacks \x1c-\x1f and \x85.
NOT_BLANK = r"[^\s\x1c-\x1f\x85]"
ERROR_REF = "#/components/schemas/ErrorOut"
FASTAPI_422 = "#/components/schemas/HTTPValidationError"


def document_limits(node: Any, settings: Settings) -> Any:
    """Replace the limit markers in a schema (in place) with the settings' values."""
    if isinstance(node, dict):
        kind = node.pop("x-limits", None)
        for branch in node.get("anyOf", [node]) if kind else ():
            if kind == "k" and branch.get("type") == "integer":
                branch.update(minimum=1, maximum=settings.max_k)
            elif kind == "query" and branch.get("type") == "string":
                branch.update(minLength=1, maxLength=settings.max_query_chars, pattern=NOT_BLANK)
        for value in node.values():
            document_limits(value, settings)
    elif isinstance(node, list):
        for value in node:
            document_limits(value, settings)
    return node


def plain_validation_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Document every 422 as ``{"detail": str}`` (what errors.py sends)."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            response = operation.get("responses", {}).get("422")
            content = (response or {}).get("content", {}).get("application/json", {})
            if content.get("schema", {}).get("$ref") == FASTAPI_422:
                response["description"] = "The request is not valid; `detail` says what to change."
                content["schema"] = {"$ref": ERROR_REF}
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema


def finish(schema: dict[str, Any], settings: Settings) -> dict[str, Any]:
    return plain_validation_errors(document_limits(schema, settings))
