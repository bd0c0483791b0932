"""The e-purse application (EP/ED, purse.md) of the virtual social security card."""

from applets.purse.application import PurseApplication
from applets.purse.layout import PURSE_AID, PURSE_FID, PurseKind, TxnType

__all__ = ["PURSE_AID", "PURSE_FID", "PurseApplication", "PurseKind", "TxnType"]
