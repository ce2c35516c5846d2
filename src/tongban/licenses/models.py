from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tongban.regions.models import Department


class Seal(models.Model):
    """A department's electronic seal: the public half of its signing key (the private half is
    a file in the node's seal key directory), its certificate and its printed image. A
    department signs with its one current seal; retired seals stay, so what they signed still
    verifies."""

    department = models.ForeignKey(
        Department, verbose_name=_("department"), on_delete=models.PROTECT, related_name="seals"
    )
    kid = models.CharField(_("key id"), max_length=64, unique=True)
    algorithm = models.CharField(_("algorithm"), max_length=16, default="ES256")
    public_jwk = models.JSONField(_("public key (JWK)"))
    certificate = models.TextField(_("certificate (PEM)"))
    image_svg = models.TextField(_("seal image (SVG)"))
    not_before = models.DateTimeField(_("valid from"))
    not_after = models.DateTimeField(_("valid until"))
    retired_at = models.DateTimeField(_("retired"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("seal")
        verbose_name_plural = _("seals")
        ordering = ["department_id", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["department"],
                condition=Q(retired_at__isnull=True),
                name="seal_one_current_per_department",
            )
        ]

    def __str__(self) -> str:
        return f"{self.department.name} {self.kid[:8]}"
