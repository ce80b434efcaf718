"""Sinks standing in for the network that keep the cost of building and serialising payloads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sentry_sdk.transport import Transport

if TYPE_CHECKING:
    from sentry_sdk.envelope import Envelope


class _CountingSink:
    """A file-like object that only counts, so serialisation runs in full without growing memory."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self.bytes += len(data)


class SerializingTransport(Transport):
    """Serialises every envelope the way the HTTP transport would, then drops it."""

    envelopes = 0
    items: dict[str, int] = {}  # noqa: RUF012 - one process, one transport: totals are process-wide
    sink = _CountingSink()

    def capture_envelope(self, envelope: Envelope) -> None:
        """Serialise the envelope in full into a sink that only counts."""
        envelope.serialize_into(self.sink)
        cls = type(self)
        cls.envelopes += 1
        for item in envelope.items:
            cls.items[item.type or "?"] = cls.items.get(item.type or "?", 0) + 1

    @classmethod
    def stats(cls) -> dict[str, Any]:
        """Return what was sent so far: proof that each variant produces what it claims to."""
        return {"envelopes": cls.envelopes, "bytes": cls.sink.bytes, "items": dict(cls.items)}


class NullSpanExporter:
    """An OpenTelemetry exporter that accepts every span and sends nothing."""

    def export(self, spans: Any) -> Any:  # noqa: ARG002 - the exporter interface
        """Drop the spans."""
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:  # noqa: ARG002 - interface
        """Nothing is ever pending."""
        return True
