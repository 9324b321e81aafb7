"""Team relay: wire protocol, relay core, asyncio server and client, sinks."""
