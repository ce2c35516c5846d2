"""The refusals of data sharing: one code each, worded here for both sides. A node that gets a
refusal from another node words it with its own text for the code (the provider's message may
be in another language), so every code a provider can send is listed."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from tongban.core.errors import DomainError


class Refused(DomainError):
    """A call the provider (or this node, before sending it) will not answer."""

    status = 403
    code = "refused"
    default_message = _("The data-sharing call was refused.")


# code → (HTTP status, message)
REFUSALS: dict[str, tuple[int, Promise]] = {
    "unknown_resource": (404, _("No such data resource is served.")),
    "resource_inactive": (409, _("This data resource is out of service.")),
    "no_grant": (
        403,
        _("Your department holds no approved grant for this resource; request access first."),
    ),
    "grant_not_in_force": (403, _("Your department's grant for this resource is not yet valid.")),
    "grant_expired": (403, _("Your department's grant for this resource has expired.")),
    "grant_revoked": (
        403,
        _("The provider has revoked your department's grant for this resource."),
    ),
    "question_not_granted": (403, _("The grant does not cover this question.")),
    "field_not_granted": (403, _("The grant does not cover these fields.")),
    "purpose_mismatch": (
        403,
        _("The stated purpose, or the case's item, does not match the grant's purpose."),
    ),
    "rate_limited": (429, _("The grant's rate limit is reached; try again in a minute.")),
    "malformed_query": (400, _("The query is malformed.")),
    "unknown_case": (404, _("There is no such case here.")),
    "provider_unreachable": (503, _("The providing node cannot be reached; try again later.")),
    "bad_answer": (
        502,
        _("The providing node's answer could not be verified; the call is logged as failed."),
    ),
    "replayed": (409, _("This call was made before.")),
    "no_encryption_key": (
        409,
        _(
            "The providing node publishes no encryption key, so personal data cannot be sent "
            "to it; its operator registers the node again (tongban exchange register)."
        ),
    ),
}


def refusal(code: str, *, fields: dict[str, Promise | str] | None = None) -> Refused:
    status, message = REFUSALS.get(code, (403, Refused.default_message))
    error = Refused(message, code=code, fields=fields)
    error.status = status  # type: ignore[misc]
    return error


# What a malformed parameter is called, by the code of questions.QueryError.
PARAM_PROBLEMS: dict[str, Promise] = {
    "malformed_params": _("Give the parameters as an object."),
    "unknown_param": _("The question takes no such parameter."),
    "missing_param": _("This parameter is required."),
    "invalid_param": _("This value is not valid (a string of at most 200 characters)."),
    "invalid_subject": _("This is not a valid ID number or unified social credit code."),
    "invalid_month": _("Give a month as YYYY-MM."),
    "invalid_period": _("The period is not valid (from ≤ to, at most fifty years)."),
    "unknown_question": _("The resource answers no such question."),
    "unknown_field": _("The resource has no such field."),
    "no_fields": _("Name at least one field."),
    "invalid_kind": _("Choose verify or query."),
}


# What is wrong with a resource's definition, by the code of questions.QueryError.
DEFINITION_PROBLEMS: dict[str, Promise] = {
    "invalid_subject_kind": _("Choose whom the resource is about: a person or an enterprise."),
    "invalid_fields": _("Give between 1 and 100 fields."),
    "invalid_field": _("A field needs a key (lower-case letters, digits, _) and a name."),
    "duplicate_field": _("Two fields have the same key."),
    "invalid_questions": _("Give at most 50 questions."),
    "invalid_question": _("A question needs a key (lower-case letters, digits, _) and a name."),
    "invalid_question_params": _(
        "The parameters start with the subject (id_number for a person, uscc for an "
        "enterprise); the others are field keys, or from and to for a period, each once."
    ),
    "invalid_rule": _(
        "The rule is match, equals (a field and a value) or covers (a field of months, with "
        "from and to among the parameters)."
    ),
    "duplicate_question": _("Two questions have the same key."),
}
