"""Building blocks and attention modules, created by name from registries."""

# Importing these modules registers their blocks and attention modules.
from archlab.blocks import attention, conv, dense, hybrid, mobile, residual, transformer  # noqa: F401
from archlab.blocks.registry import (
    ATTENTION,
    BLOCKS,
    create_attention,
    create_block,
    list_attention,
    list_blocks,
    register_attention,
    register_block,
)

__all__ = [
    "ATTENTION",
    "BLOCKS",
    "create_attention",
    "create_block",
    "list_attention",
    "list_blocks",
    "register_attention",
    "register_block",
]
