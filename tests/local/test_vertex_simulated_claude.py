"""The simulated Claude: deterministic replies that honour the request, seen through the SDK."""

from __future__ import annotations

import base64
import json
import struct
import zlib

import anthropic
import pytest

from runner.local import claude_sim, token_counts

HAIKU = "claude-3-5-haiku@20241022"
PROMPT = [{"role": "user", "content": "Describe a quiet harbour at dawn."}]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "required": ["city", "unit"],
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["c", "f"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
        },
    },
}


def _png(width: int, height: int) -> str:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x00" * width for _ in range(height))
    raw = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return base64.b64encode(raw).decode()


def _jpeg(width: int, height: int) -> str:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return base64.b64encode(
        b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", 4) + b"\x00\x00" + sof + b"\xff\xd9"
    ).decode()


def _image(media_type: str, data: str) -> dict:
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


async def test_same_request_gives_the_identical_reply(vertex):
    client = vertex.client()
    first = await client.messages.create(model=HAIKU, max_tokens=200, messages=PROMPT)
    second = await client.messages.create(model=HAIKU, max_tokens=200, messages=PROMPT)

    assert first.to_dict() == second.to_dict()


async def test_different_prompt_or_model_gives_a_different_reply(vertex):
    client = vertex.client()
    base = await client.messages.create(model=HAIKU, max_tokens=200, messages=PROMPT)
    other_prompt = await client.messages.create(
        model=HAIKU, max_tokens=200, messages=[{"role": "user", "content": "Something else."}]
    )
    other_model = await client.messages.create(
        model="claude-sonnet-4@20250514", max_tokens=200, messages=PROMPT
    )

    assert other_prompt.content[0].text != base.content[0].text
    assert other_prompt.id != base.id
    assert other_model.content[0].text != base.content[0].text


async def test_system_prompt_changes_the_text(vertex):
    client = vertex.client()
    plain = await client.messages.create(model=HAIKU, max_tokens=200, messages=PROMPT)
    with_system = await client.messages.create(
        model=HAIKU, max_tokens=200, messages=PROMPT, system="You are a terse pirate."
    )

    assert with_system.content[0].text != plain.content[0].text
    assert with_system.usage.input_tokens > plain.usage.input_tokens


async def test_max_tokens_truncates_with_stop_reason_max_tokens(vertex):
    message = await vertex.client().messages.create(model=HAIKU, max_tokens=3, messages=PROMPT)

    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 3
    assert len(message.content[0].text.split()) == 3


async def test_long_enough_budget_ends_the_turn(vertex):
    message = await vertex.client().messages.create(model=HAIKU, max_tokens=4096, messages=PROMPT)

    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.output_tokens <= 4096


async def test_stop_sequences_stop_the_text_and_name_the_sequence(vertex):
    message = await vertex.client().messages.create(
        model=HAIKU, max_tokens=4096, messages=PROMPT, stop_sequences=["###", "END"]
    )

    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence in ("###", "END")
    assert message.stop_sequence not in message.content[0].text


@pytest.mark.parametrize("tool_choice", [{"type": "tool", "name": "get_weather"}, {"type": "any"}])
async def test_forced_tool_choice_returns_tool_use_matching_the_schema(vertex, tool_choice):
    message = await vertex.client().messages.create(
        model=HAIKU, max_tokens=500, messages=PROMPT, tools=[WEATHER_TOOL], tool_choice=tool_choice
    )

    assert message.stop_reason == "tool_use"
    [block] = message.content
    assert block.type == "tool_use" and block.name == "get_weather" and block.id.startswith("toolu_")
    assert isinstance(block.input["city"], str) and block.input["unit"] in ("c", "f")
    assert 1 <= block.input["days"] <= 7


async def test_streamed_tool_use_arrives_as_input_json_deltas(vertex):
    kwargs = dict(
        model=HAIKU,
        max_tokens=500,
        messages=PROMPT,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "tool", "name": "get_weather"},
    )
    client = vertex.client()
    created = await client.messages.create(**kwargs)
    async with client.messages.stream(**kwargs) as stream:
        final = await stream.get_final_message()

    assert final.content[0].input == created.content[0].input


async def test_images_are_acknowledged_and_counted(vertex):
    content = [
        _image("image/png", _png(300, 150)),
        _image("image/jpeg", _jpeg(750, 100)),
        {"type": "text", "text": "What are these?"},
    ]
    client = vertex.client()
    message = await client.messages.create(
        model=HAIKU, max_tokens=300, messages=[{"role": "user", "content": content}]
    )
    text_only = await client.messages.count_tokens(
        model=HAIKU, messages=[{"role": "user", "content": "What are these?"}]
    )

    assert message.content[0].text.startswith("I can see 2 images (image/png, image/jpeg).")
    assert message.usage.input_tokens == text_only.input_tokens + 60 + 100  # (w*h)/750 each


def test_large_images_are_counted_after_resizing():
    block = {"type": "base64", "media_type": "image/png", "data": _png(4000, 3000)}

    assert token_counts.image_tokens(block) <= 1600


async def test_usage_input_tokens_equal_count_tokens(vertex):
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": [{"type": "text", "text": "Tell me more about it."}]},
    ]
    client = vertex.client()
    counted = await client.messages.count_tokens(
        model=HAIKU, messages=messages, system="Be brief.", tools=[WEATHER_TOOL]
    )
    message = await client.messages.create(
        model=HAIKU, max_tokens=50, messages=messages, system="Be brief.", tools=[WEATHER_TOOL]
    )

    assert message.usage.input_tokens == counted.input_tokens


async def test_scripted_replies_override_by_text_and_answer_errors(vertex, tmp_path):
    script = tmp_path / "script.jsonl"
    script.write_text(
        "\n".join(
            json.dumps(line)
            for line in [
                {"match": {"contains": "capital of France"}, "reply": {"text": "Paris."}},
                {
                    "match": {"contains": "please fail"},
                    "error": {
                        "status": 529,
                        "body": {
                            "type": "error",
                            "error": {"type": "overloaded_error", "message": "Overloaded"},
                        },
                    },
                },
            ]
        )
    )
    vertex.configure(scripted_replies=str(script))
    client = vertex.client()

    message = await client.messages.create(
        model=HAIKU, max_tokens=50, messages=[{"role": "user", "content": "The capital of France?"}]
    )
    assert message.content[0].text == "Paris." and message.usage.output_tokens == 1
    with pytest.raises(anthropic.APIStatusError) as raised:
        await client.messages.create(
            model=HAIKU, max_tokens=50, messages=[{"role": "user", "content": "please fail now"}]
        )
    assert raised.value.status_code == 529


def test_scripted_replies_match_batch_rows_by_custom_id():
    simulator = claude_sim.Simulator(
        [{"match": {"custom_id": "row-2"}, "error": {"status": 400, "body": {"error": {"code": 400}}}}]
    )
    body = {"anthropic_version": "vertex-2023-10-16", "max_tokens": 10, "messages": PROMPT}

    assert simulator.respond(body, HAIKU, custom_id="row-1").status == 200
    assert simulator.respond(body, HAIKU, custom_id="row-2").status == 400


async def test_extended_thinking_comes_first_and_streams_with_its_signature(vertex):
    kwargs = dict(
        model=HAIKU, max_tokens=3000, messages=PROMPT, thinking={"type": "enabled", "budget_tokens": 2048}
    )
    client = vertex.client()
    created = await client.messages.create(**kwargs)
    async with client.messages.stream(**kwargs) as stream:
        kinds = {event.delta.type async for event in stream if event.type == "content_block_delta"}
        streamed = await stream.get_final_message()

    thinking, text = created.content
    assert thinking.type == "thinking" and thinking.thinking and thinking.signature
    assert text.type == "text" and text.text
    assert created.usage.output_tokens == len(thinking.thinking.split()) + len(text.text.split())
    assert kinds == {"thinking_delta", "signature_delta", "text_delta"}
    assert streamed.content[0].signature == thinking.signature
    assert streamed.content[1].text == text.text


async def test_an_unreadable_scripts_file_is_refused_and_the_old_config_kept(vertex, tmp_path):
    import httpx

    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{vertex.url}/_local/config", json={"scripted_replies": str(tmp_path / "missing.jsonl")}
        )
        current = (await http.get(f"{vertex.url}/_local/config")).json()

    assert response.status_code == 400
    assert "cannot read scripted replies" in response.json()["error"]["message"]
    assert current["scripted_replies"] is None
