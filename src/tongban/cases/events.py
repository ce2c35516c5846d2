from enum import StrEnum


class CaseAuditEvent(StrEnum):
    """Audit action names of the cases domain outside a case's own chain (refusals before a
    case exists, agent authorisations)."""

    REFUSED_REAL_NAME_LEVEL = "case.refused_real_name_level"
    AUTHORISATION_GRANTED = "authorisation.granted"
    AUTHORISATION_RECORDED = "authorisation.recorded_at_window"
    AUTHORISATION_REVOKED = "authorisation.revoked"
    AUTHORISATION_EXPIRED = "authorisation.expired"
