"""Role x route rows of the drills' calendars: a drill's .ics (page and API), the personal feed
page and its forms, the caller's feed over the API, and the public feed itself. Object kinds:
"drill" (a planned drill), "calendar_feed" (the live feed token of victim.a1; "missing": an
unknown token). Every user of the world has a live feed (the API's GET and DELETE find one)."""

from matrix import AUTHENTICATED, PUBLIC, Route

READERS = frozenset({"admin", "officer", "leader", "drill_team", "auditor"})

ROUTES = [
    Route("drill_calendar.drill_ics", "GET", "/drills/{obj}.ics", READERS, obj="drill"),
    Route("drill_calendar.index", "GET", "/calendar", AUTHENTICATED),
    Route("drill_calendar.create", "POST", "/calendar/feed", AUTHENTICATED),
    Route("drill_calendar.revoke", "POST", "/calendar/feed/revoke", AUTHENTICATED),
    # The token is the key: anyone holding it reads the feed, an unknown one is not found.
    Route("drill_calendar.feed", "GET", "/calendar/feed/{obj}.ics", PUBLIC, obj="calendar_feed", no_scope=True),
    Route("drill_calendar_api.drill_calendar_get", "GET", "/api/v1/drills/{obj}/calendar.ics", READERS, obj="drill"),
    Route("drill_calendar_api.calendar_feed_get", "GET", "/api/v1/calendar-feed", AUTHENTICATED),
    Route("drill_calendar_api.calendar_feed_create", "POST", "/api/v1/calendar-feed", AUTHENTICATED),
    Route("drill_calendar_api.calendar_feed_delete", "DELETE", "/api/v1/calendar-feed", AUTHENTICATED),
]
