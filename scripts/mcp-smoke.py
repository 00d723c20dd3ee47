#!/usr/bin/env python3
"""Protocol smoke test of `tbx mcp serve` with another MCP implementation:
the official Python SDK (`python3 -m pip install mcp`) launches the server
with -simulate (no account needed) in a scratch TOOLBOX_HOME, initializes,
lists the tools and calls each, then checks a bad argument is a tool error
after which the server still answers.

    python3 scripts/mcp-smoke.py [path/to/tbx]     (default: target/debug/tbx)

Prints one line per check; exits 1 on a failed check, 0 when all passed.
Without the `mcp` package it says so and exits 0 (skipped), so CI can run
it wherever Python is.
"""

import asyncio
import json
import os
import sys
import tempfile

try:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client
except ImportError as e:
    print(f"mcp-smoke: skipped: the Python package `mcp` is not installed ({e}); "
          "run `python3 -m pip install mcp`")
    sys.exit(0)

TOOLS = ["backup_device_status", "backup_status_history", "backup_summary"]


def field(obj, snake, camel):
    """The SDK's models name fields in snake case (2.x) or camel case (1.x)."""
    return getattr(obj, snake, getattr(obj, camel, None))


class Failed(Exception):
    pass


def check(ok, what):
    if not ok:
        raise Failed(what)
    print(f"ok   {what}")


async def call(session, tool, arguments):
    result = await session.call_tool(tool, arguments)
    text = result.content[0].text if result.content else ""
    return result, text


async def smoke(binary, home):
    params = StdioServerParameters(
        command=binary,
        args=["mcp", "serve", "-simulate"],
        env={"TOOLBOX_HOME": home, "NO_COLOR": "1"},
    )
    with open(os.path.join(home, "stderr.txt"), "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                info = field(init, "server_info", "serverInfo")
                version = field(init, "protocol_version", "protocolVersion")
                check(info.name == "tbx", f"initialize: server {info.name} {info.version}, protocol {version}")

                listed = await session.list_tools()
                names = sorted(t.name for t in listed.tools)
                check(names == TOOLS, f"tools/list: {', '.join(names)}")
                for tool in listed.tools:
                    hints = tool.annotations
                    read_only = field(hints, "read_only_hint", "readOnlyHint")
                    open_world = field(hints, "open_world_hint", "openWorldHint")
                    schema = field(tool, "input_schema", "inputSchema")
                    output = field(tool, "output_schema", "outputSchema")
                    check(read_only is True and open_world is True and
                          schema.get("required") == ["start_time"] and
                          output and output.get("type") == "object",
                          f"{tool.name}: read-only, open-world, input and output schemas")

                for tool, arguments, key in [
                    ("backup_device_status", {"start_time": "-28d", "limit": 5}, "rows"),
                    ("backup_summary", {"start_time": "-28d"}, "summary"),
                    ("backup_status_history", {"start_time": "-28d", "status": ["disabled"]}, "changes"),
                ]:
                    result, text = await call(session, tool, arguments)
                    structured = field(result, "structured_content", "structuredContent")
                    is_error = field(result, "is_error", "isError")
                    check(not is_error and structured is not None and key in structured
                          and json.loads(text) == structured,
                          f"{tool}: structuredContent with '{key}', the same JSON as text")

                result, text = await call(session, "backup_device_status", {"start_time": "yesterday"})
                check(field(result, "is_error", "isError") is True and text.startswith("-start-time: "),
                      f"a bad start_time is a tool error: {text[:60]}...")
                result, text = await call(session, "backup_device_status",
                                          {"start_time": "-7d", "limit": "ten"})
                check(field(result, "is_error", "isError") is True
                      and text == "limit: expected a whole number from 0 to 1000",
                      f"a bad limit names the argument: {text[:60]}")
                result, _ = await call(session, "backup_summary", {"start_time": "-7d"})
                check(not field(result, "is_error", "isError"), "the server still answers")
                result, text = await call(session, "backup_device_status",
                                          {"start_time": "-28d", "status": ["off"], "desc": None})
                structured = field(result, "structured_content", "structuredContent") or {}
                check(not field(result, "is_error", "isError") and structured.get("total") == 0
                      and len(structured.get("warnings", [])) == 1,
                      "an unknown status is a warning; null is 'not given'")


def main():
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/debug/tbx")
    if not os.path.exists(binary):
        print(f"mcp-smoke: no binary at {binary}; build it first (cargo build)")
        return 1
    with tempfile.TemporaryDirectory(prefix="tbx-mcp-smoke-") as home:
        try:
            asyncio.run(asyncio.wait_for(smoke(binary, home), timeout=120))
        except Failed as e:
            print(f"FAIL {e}")
            with open(os.path.join(home, "stderr.txt")) as f:
                sys.stdout.write(f.read())
            return 1
    print("mcp-smoke: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
