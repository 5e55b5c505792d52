"""Validation of Tragen configurations: the contract of spec/config-sections.md.

Public API (called by the runtime at start-up, the Ansible gate and ``tragen-config``):
``validate_document``, ``load_document``, ``load_valid_config``, ``InvalidConfiguration``,
``check_stage_requirements``, ``check_inventory``, ``notices`` (operator notes on a valid
document, every key nothing acts on in this release among them: see ``registry``) and the
``Problem`` record.
"""

from .inventory_checks import check_inventory
from .notices import notices
from .problem import Problem
from .stages import STAGES, check_stage_requirements
from .validation import (
    InvalidConfiguration,
    load_document,
    load_valid_config,
    validate_document,
)

__all__ = [
    "STAGES",
    "InvalidConfiguration",
    "Problem",
    "check_inventory",
    "check_stage_requirements",
    "load_document",
    "load_valid_config",
    "notices",
    "validate_document",
]
