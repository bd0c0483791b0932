"""The counter's side of the insurance centre (docs/centre.md): a client of the platform's numbered
transactions, and the online/offline link the counter flows use (journal, reversal, upload queue)."""

from .client import CentreClient, Institution, MsgIds, Reply
from .errors import CentreClientError, CentreProtocolError, CentreRefused, CentreUnreachable
from .link import AnswerLost, CentreLink, CentrePerson, OnlineDraft
from .upload import UploadReport

__all__ = [
    "AnswerLost", "CentreClient", "CentreClientError", "CentreLink", "CentrePerson", "CentreProtocolError",
    "CentreRefused", "CentreUnreachable", "Institution", "MsgIds", "OnlineDraft", "Reply", "UploadReport",
]
