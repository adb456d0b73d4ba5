//! keepup's HTTP listener: heartbeat pings, health, later dashboard, status page and API.
