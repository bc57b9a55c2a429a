"""The JSON the API answers with, built from a show's values at its channel's air time.

Songs are named by library id and tags, never by file path. Field names of
``/api/nowplaying`` follow AzuraCast's now-playing API where they mean the same
thing (``now_playing.elapsed``, ``playing_next``, ``song_history[].played_at``),
so radio front-ends that read it find what they expect.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from segue.service.channel import Channel
from segue.show.model import Played, Song, Upcoming


def jsonable(value: Any) -> Any:
    """``value`` with dataclasses turned into dicts and tuples into lists, recursively."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        return round(value, 3)
    return value


def song_json(song: Song | None) -> dict[str, Any] | None:
    """A song as the API shows it: id, tags, ``duration`` and ``text`` (``Artist - Title``)."""
    if song is None:
        return None
    data: dict[str, Any] = jsonable(song)
    data["duration"] = data.get("duration_s")
    data["text"] = f"{song.artist} - {song.title}" if song.artist else song.title
    return data


def upcoming_json(items: list[Upcoming]) -> list[dict[str, Any]]:
    """Upcoming tracks with why each comes there."""
    return [{"song": song_json(u.song), "why": u.why} for u in items]


def played_json(item: Played) -> dict[str, Any]:
    """A track that started: song, when (``played_at``: UNIX time), why, how it ended."""
    return {"song": song_json(item.song), "played_at": round(item.played_at, 3),
            "start_s": round(item.start_s, 3), "why": item.why, "ended": item.ended}  # fmt: skip


def now_playing_json(channel: Channel, *, history_limit: int = 10) -> dict[str, Any]:
    """``now_playing``, ``playing_next``, ``song_history`` and ``listeners`` at air time."""
    show = channel.show
    air = channel.air_s
    now = show.now_playing(at_s=air)
    history = show.history(limit=history_limit + 3)
    heard = [p for p in history if p.start_s <= air + 1e-3]
    ahead = [p for p in history if p.start_s > air + 1e-3]
    current = heard[-1] if heard and now.song is not None and heard[-1].song.id == now.song.id \
        else None
    past = heard[:-1] if current is not None else heard
    if ahead:
        playing_next: dict[str, Any] | None = {"song": song_json(ahead[0].song),
                                               "why": ahead[0].why}
    else:
        upcoming = show.upcoming()
        playing_next = upcoming_json(upcoming[:1])[0] if upcoming else None
    return {
        "now_playing": {
            "elapsed": round(now.elapsed_s, 1), "remaining": round(now.remaining_s, 1),
            "duration": round(now.song.duration_s, 1) if now.song else None,
            "played_at": round(current.played_at, 3) if current else None,
            "song": song_json(now.song), "why": now.why, "link": now.link,
        },
        "playing_next": playing_next,
        "song_history": [played_json(p) for p in reversed(past[-history_limit:])],
        "listeners": channel.listeners,
        "position_s": round(air, 3),
    }  # fmt: skip


def _heard_links(channel: Channel) -> list[dict[str, Any]]:
    """The links already heard on ``channel`` (the published ``link`` events)."""
    return [{"text": e.data.get("text", ""), "start_s": round(e.at_s, 3),
             "end_s": round(float(e.data.get("end_s", e.at_s)), 3)}
            for e in channel.published() if e.kind == "link"]  # fmt: skip


def now_json(channel: Channel, at_s: float | None) -> dict[str, Any]:
    """The earlier ``/api/now`` answer: the track and link heard at ``at_s`` (default: now)."""
    t = channel.air_s if at_s is None else max(0.0, min(at_s, channel.air_s))
    now = channel.show.now_playing(at_s=t)
    links = [lk for lk in _heard_links(channel) if lk["start_s"] <= t]
    speaking = [lk for lk in links if t < lk["end_s"]]
    track = None
    if now.song is not None:
        start_s = round(t - now.elapsed_s, 3)
        track = {"id": now.song.id, "title": now.song.title, "artist": now.song.artist,
                 "start_s": start_s, "end_s": round(t + now.remaining_s, 3)}  # fmt: skip
    return {"position_s": round(t, 3), "track": track, "why": now.why,
            "link": speaking[-1] if speaking else None,
            "last_link": links[-1] if links else None}  # fmt: skip


def timeline_json(channel: Channel, *, limit: int = 50) -> dict[str, Any]:
    """The earlier ``/api/timeline`` answer, for a live show: what was heard, by library id."""
    air = channel.air_s
    played = [p for p in channel.show.history(limit=limit) if p.start_s <= air + 1e-3]
    tracks = [{"id": p.song.id, "title": p.song.title, "artist": p.song.artist,
               "start_s": round(p.start_s, 3), "why": p.why, "ended": p.ended}
              for p in played]  # fmt: skip
    return {"position_s": round(air, 3), "tracks": tracks, "links": _heard_links(channel)}
