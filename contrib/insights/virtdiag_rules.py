"""virtdiag as insights-core rules: on the archive insights has opened (a sosreport, an insights-client
archive) or on the live host, virtdiag's scan runs once, read-only, and each finding becomes one
`make_fail` whose error key is VIRTDIAG_<SIGNATURE_ID> (hyphens as underscores).

    insights-run -p virtdiag_rules sosreport-kvm1-2024-05-02.tar.xz      # PYTHONPATH=contrib/insights
    insights-run -p virtdiag_rules -f json insights-kvm1-20240502.tar.gz

One rule per signature of virtdiag's catalog; a rule whose cause is not found returns nothing. Every
make_fail carries what virtdiag's JSON report says of the finding: title, severity, confidence, captures,
evidence and the ranked fixes with their commands (printed, never run).
"""

from __future__ import annotations

from typing import Any

from insights.core.context import HostArchiveContext, HostContext, SerializedArchiveContext, SosArchiveContext
from insights.core.plugins import condition, make_fail, rule

from diagnose import engine, redact, render

ERROR_KEY = "VIRTDIAG_{}"


@condition([HostContext, HostArchiveContext, SerializedArchiveContext, SosArchiveContext])
def virtdiag_report(host: Any, insights_archive: Any, core_archive: Any, sosreport: Any) -> dict[str, Any]:
    """virtdiag's scan of what insights opened (an insights core archive keeps the host under data/, which
    virtdiag finds itself), as its JSON report (secrets redacted)."""
    context = sosreport or insights_archive or core_archive or host
    root = getattr(context, "root", "/") or "/"
    report = engine.scan(None if root == "/" else root)
    return render.report_json(redact.redact(redact.printable(report), False, None))


def error_key(signature_id: str) -> str:
    return ERROR_KEY.format(signature_id.upper().replace("-", "_"))


def _rule_for(signature_id: str) -> Any:
    key = error_key(signature_id)

    def found(report: dict[str, Any]) -> Any:
        findings = [f for f in report["findings"] if f["id"] == signature_id]
        if not findings:
            return None
        first = findings[0]
        return make_fail(key, signature=signature_id, title=first["title"], severity=first["severity"],
                         section=first["section"], findings=findings, host=report.get("target", {}))

    found.__name__ = found.__qualname__ = "virtdiag_" + signature_id.replace("-", "_")
    found.__doc__ = f"virtdiag finding {signature_id}"
    found.__module__ = __name__
    return rule(virtdiag_report)(found)


CATALOG, _ = engine.loaded()
for _signature in CATALOG.signatures:
    globals()["virtdiag_" + _signature.id.replace("-", "_")] = _rule_for(_signature.id)
