"""Knowlarity's REST API and live notification stream, typed; usable without the TUI.

No Textual here (the console imports this package, never the reverse).
"""

from .backoff import Backoff
from .calllog import CallLogMeta, CallLogPage, CallLogQuery, CallLogRecord
from .client import CampaignStatus, KnowlarityClient
from .dates import IST, parse_datetime
from .errors import (
    ApiConnectionError,
    ApiTimeout,
    AuthError,
    BadRequest,
    KnowlarityError,
    NotFound,
    RateLimited,
    ResponseFormatError,
    ServerError,
)
from .events import CallEvent, Cdr, EventType, StreamItem, UnknownEvent, parse_event
from .lenient_json import LenientJSONError
from .models import (
    AddCallResult,
    AddNumbersResult,
    Agent,
    AvailableNumber,
    BoughtNumber,
    BuyNumberResult,
    Campaign,
    Circle,
    DetailedCallLog,
    MakeCallResult,
    MessageResult,
    Meta,
    NotificationRegistration,
    OrderResult,
    OtpCallResult,
    Page,
    Phonebook,
    PhonebookUploadResult,
    Plan,
    Sound,
    SoundUploadResult,
    Task,
)
from .phone import normalize_number, same_number
from .requests import CampaignFilter, NewCampaign, NewOrder
from .stream import LiveStream, StreamState, StreamStats

__all__ = [
    "Backoff", "CallLogMeta", "CallLogPage", "CallLogQuery", "CallLogRecord", "CampaignStatus",
    "KnowlarityClient", "IST", "parse_datetime", "ApiConnectionError", "ApiTimeout", "AuthError",
    "BadRequest", "KnowlarityError", "NotFound", "RateLimited", "ResponseFormatError", "ServerError",
    "CallEvent", "Cdr", "EventType", "StreamItem", "UnknownEvent", "parse_event", "LenientJSONError",
    "AddCallResult", "AddNumbersResult", "Agent", "AvailableNumber", "BoughtNumber", "BuyNumberResult",
    "Campaign", "Circle", "DetailedCallLog", "MakeCallResult", "MessageResult", "Meta",
    "NotificationRegistration", "OrderResult", "OtpCallResult", "Page", "Phonebook",
    "PhonebookUploadResult", "Plan", "Sound", "SoundUploadResult", "Task", "normalize_number",
    "same_number", "CampaignFilter", "NewCampaign", "NewOrder", "LiveStream", "StreamState", "StreamStats",
]
