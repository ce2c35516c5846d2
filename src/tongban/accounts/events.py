from enum import StrEnum


class AccountEvent(StrEnum):
    """Audit action names of the accounts domain."""

    PERSON_SIGNED_UP = "person.signed_up"
    PERSON_REGISTERED_AT_WINDOW = "person.registered_at_window"
    PERSON_RECORDED_FROM_NODE = "person.recorded_from_node"
    ENTERPRISE_REGISTERED = "enterprise.registered"
    ENTERPRISE_MEMBER_ADDED = "enterprise.member_added"
    ENTERPRISE_MEMBER_REMOVED = "enterprise.member_removed"
    PERSON_LEVEL_RAISED = "person.real_name_level_raised"
    PERSON_VERIFICATION_FAILED = "person.verification_failed"
    STAFF_CREATED = "staff.created"
    STAFF_ROLES_CHANGED = "staff.roles_changed"
    LIFE_EVENT_DECLARED = "person.life_event_declared"
    LIFE_EVENT_WITHDRAWN = "person.life_event_withdrawn"
    # Sign-in (accounts/signin.py, accounts/signals.py).
    LOGGED_IN = "account.logged_in"
    LOGGED_OUT = "account.logged_out"
    LOGIN_FAILED = "account.login_failed"
    LOGIN_UNLOCKED = "account.login_unlocked"
    OTP_ENROLLED = "staff.otp_enrolled"
    OTP_RESET = "staff.otp_reset"
    RECOVERY_CODES_ISSUED = "staff.recovery_codes_issued"


class LoginFailure(StrEnum):
    """Why a sign-in failed, as recorded in the audit entry."""

    BAD_PASSWORD = "bad_password"  # noqa: S105 - a reason, not a password
    BAD_CODE = "bad_code"
    LOCKED_OUT = "locked_out"
    NOT_ENROLLED = "not_enrolled"
