"""Celery settings for Nurture's workers and beat; nurture's Celery app reads this module.

The settings themselves live in `nurture.celery_settings`. This module only re-exports them,
so it never changes: an editable install copies it beside the package, and a copy of the
settings would go stale there while the checkout moved on.
"""

from nurture.celery_settings import *  # noqa: F403
