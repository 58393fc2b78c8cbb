"""Knowlarity's REST API and live notification stream, typed; usable without the TUI.

    async with KnowlarityClient.from_settings(settings) as client:
        agents = await client.list_agents()
        await client.make_call(k_number, agent_number, customer_number)   # never retried
        async for page in client.iter_call_log(CallLogQuery(start_time__gt=since, limit=200)):
            ...
    async with LiveStream.from_settings(settings, client=client, on_state=show) as stream:
        async for item in stream:    # CallEvent | Cdr | UnknownEvent, deduplicated
            ...                      # Cdr.backfilled: rebuilt from the call log after a drop

The stream is pull-based: it reads, notices drops and reconnects while someone iterates
it, so run the loop in a long-lived task. Errors are `KnowlarityError` subclasses whose
`str()` is one line fit for a status bar. No Textual here (the console imports this
package, never the reverse).
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
    "IST",
    "AddCallResult",
    "AddNumbersResult",
    "Agent",
    "ApiConnectionError",
    "ApiTimeout",
    "AuthError",
    "AvailableNumber",
    "Backoff",
    "BadRequest",
    "BoughtNumber",
    "BuyNumberResult",
    "CallEvent",
    "CallLogMeta",
    "CallLogPage",
    "CallLogQuery",
    "CallLogRecord",
    "Campaign",
    "CampaignFilter",
    "CampaignStatus",
    "Cdr",
    "Circle",
    "DetailedCallLog",
    "EventType",
    "KnowlarityClient",
    "KnowlarityError",
    "LenientJSONError",
    "LiveStream",
    "MakeCallResult",
    "MessageResult",
    "Meta",
    "NewCampaign",
    "NewOrder",
    "NotFound",
    "NotificationRegistration",
    "OrderResult",
    "OtpCallResult",
    "Page",
    "Phonebook",
    "PhonebookUploadResult",
    "Plan",
    "RateLimited",
    "ResponseFormatError",
    "ServerError",
    "Sound",
    "SoundUploadResult",
    "StreamItem",
    "StreamState",
    "StreamStats",
    "Task",
    "UnknownEvent",
    "normalize_number",
    "parse_datetime",
    "parse_event",
    "same_number",
]
