"""The PSAM (purchase secure access module) application: the terminal's second card (purse.md "PSAM")."""

from applets.psam.application import PSAM_AID, PSAM_FID, SFI_TERMINAL_ID, PsamApplication

__all__ = ["PSAM_AID", "PSAM_FID", "SFI_TERMINAL_ID", "PsamApplication"]
